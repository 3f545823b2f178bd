package krm

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Stream runs the function on the ResourceList src and writes the
// ResourceList to out. In the layout kustomize and kpt write (see
// layout.go) it decides the items one at a time, as the stream rewriter
// decides documents, and writes src back byte for byte but for the image
// values, with the results after it; memory holds a few items, not the
// list. Any other ResourceList is parsed whole, by Run. The returned
// Output has no Images; its error is Run's.
func (f Function) Stream(src *io.SectionReader, out *fileset.Spool) (*Output, error) {
	l, err := scanLayout(io.NewSectionReader(src, 0, src.Size()))
	if err == nil {
		o, err := f.stream(src, l, out)
		if !errors.Is(err, errNotLayout) {
			return o, err
		}
		if err := out.Reset(); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, errNotLayout) {
		return nil, fmt.Errorf("reading ResourceList: %w", err)
	}
	data, err := io.ReadAll(io.NewSectionReader(src, 0, src.Size()))
	if err != nil {
		return nil, fmt.Errorf("reading ResourceList: %w", err)
	}
	o, err := f.Run(data)
	if o != nil {
		if _, werr := out.Write(o.ResourceList); werr != nil {
			return nil, werr
		}
	}
	return o, err
}

// stream is Stream on a ResourceList in the layout l. It returns
// errNotLayout when the ResourceList turns out to be other than the
// layout promised, for Run to read it whole.
func (f Function) stream(src *io.SectionReader, l *layout, out *fileset.Spool) (*Output, error) {
	root, err := skeleton(src, l)
	if err != nil {
		return nil, err
	}
	eng, results, cfgErr := f.config(root)
	o := &Output{Results: results}
	if cfgErr != nil {
		if _, err := io.Copy(out, io.NewSectionReader(src, 0, src.Size())); err != nil {
			return nil, err
		}
	} else if err := o.items(src, l, eng, out); err != nil {
		return nil, err
	}
	if err := writeResults(out, o.Results, l.noFinalNewline); err != nil {
		return nil, err
	}
	return o, cfgErr
}

// skeleton parses the ResourceList without its items, and checks that it
// is one whose results can be appended to.
func skeleton(src *io.SectionReader, l *layout) (*yaml.Node, error) {
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.NewSectionReader(src, 0, l.items.start)); err != nil {
		return nil, err
	}
	if _, err := io.Copy(&b, io.NewSectionReader(src, l.items.end, src.Size()-l.items.end)); err != nil {
		return nil, err
	}
	doc, err := parse(b.Bytes())
	if err != nil {
		return nil, errNotLayout
	}
	root := doc.Content[0]
	if !isResourceList(root) || !isNull(lookup(root, "items")) || lookup(root, "results") != nil {
		return nil, errNotLayout
	}
	return root, nil
}

// items writes the ResourceList src with the images of its items decided
// by eng, and keeps the warnings as results.
func (o *Output) items(src *io.SectionReader, l *layout, eng *mirror.Engine, out io.Writer) error {
	if _, err := io.Copy(out, io.NewSectionReader(src, 0, l.first)); err != nil {
		return err
	}
	entries := func(yield func(manifest.Chunk) error) error { return l.entries(src, yield) }
	seen := 0
	var outErr error
	_, err := manifest.ScanList("stdin", entries, eng, func(p *manifest.Part) error {
		if len(p.Warnings) > 0 {
			o.Results = append(o.Results, partResults(p, seen)...)
		}
		seen += p.Documents
		if _, err := p.WriteTo(out); err != nil {
			outErr = err
			return err
		}
		return nil
	})
	switch {
	case outErr != nil:
		return outErr
	case err != nil:
		// Let the whole parse find the fault, or read what this did not.
		return errNotLayout
	}
	_, err = io.Copy(out, io.NewSectionReader(src, l.items.end, src.Size()-l.items.end))
	return err
}

// partResults returns the results of the warnings of p, whose first item
// is the one after the first seen items.
func partResults(p *manifest.Part, seen int) framework.Results {
	var list yaml.Node
	if err := yaml.Unmarshal(p.Data, &list); err != nil || len(list.Content) == 0 {
		return nil
	}
	entries := list.Content[0].Content
	var ws []manifest.Warning
	var images []manifest.Image
	for _, w := range p.Warnings {
		w.Document -= seen
		ws = append(ws, w)
	}
	for _, img := range p.Images {
		img.Document -= seen
		images = append(images, img)
	}
	nodes := make([]*yaml.RNode, len(entries))
	for i, n := range entries {
		nodes[i] = yaml.NewRNode(n)
	}
	return warningResults(nodes, images, ws)
}

// writeResults appends results to the ResourceList written to w.
func writeResults(w io.Writer, results framework.Results, noFinalNewline bool) error {
	if len(results) == 0 {
		return nil
	}
	b, err := yaml.Marshal(results)
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	head := "results:\n"
	if noFinalNewline {
		head = "\n" + head
	}
	if _, err := io.WriteString(w, head); err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
