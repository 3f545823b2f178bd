package manifest

import (
	"bytes"
	"errors"
	"regexp"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

// Result is the outcome of rewriting one stream held in memory.
type Result struct {
	Summary
	// Output is the rewritten stream.
	Output []byte
	// Images lists every image field, in stream order.
	Images   []Image
	Warnings []Warning
}

// Rewritten returns the images whose value changed in the output.
func (r *Result) Rewritten() []Image {
	var out []Image
	for _, img := range r.Images {
		if img.Rewritten() {
			out = append(out, img)
		}
	}
	return out
}

// Rewrite applies eng to every image field of the stream data, read from
// file (used in reports). It fails on a stream that does not parse or that
// kmirror refuses to edit.
func Rewrite(file string, data []byte, eng *mirror.Engine) (*Result, error) {
	res := &Result{}
	var out bytes.Buffer
	out.Grow(len(data))
	sum, err := Scan(file, bytes.NewReader(data), eng, func(p *Part) error {
		res.Images = append(res.Images, p.Images...)
		res.Warnings = append(res.Warnings, p.Warnings...)
		_, err := p.WriteTo(&out)
		return err
	})
	if err != nil {
		return nil, err
	}
	res.Summary, res.Output = sum, out.Bytes()
	return res, nil
}

var yamlMessage = regexp.MustCompile(`^yaml: (?:line \d+: )?(.*)$`)

// yamlError turns an error of the YAML decoder on data, a part of a
// stream whose first line is line base there, into a *SyntaxError at the
// line of the fault. yaml.v3 reports some errors at the line where the
// enclosing mapping starts, and others at no line: the fault is at the
// first line that, read with the lines before it, fails the same way.
func yamlError(file string, doc, base int, data []byte, err error) error {
	msg := err.Error()
	if m := yamlMessage.FindStringSubmatch(msg); m != nil {
		msg = m[1]
	}
	ends := lineEnds(data)
	lo, hi := 1, len(ends)
	for lo < hi {
		mid := (lo + hi) / 2
		if failsWith(data[:ends[mid-1]], msg) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return &SyntaxError{File: file, Document: doc, Line: base + lo - 1, Err: errors.New(msg)}
}

// lineEnds returns the offset just past each line of data, as YAML counts
// lines.
func lineEnds(data []byte) []int {
	var ends []int
	for i := 0; i < len(data); {
		if k := breakLen(data[i:], false); k > 0 {
			i += k
			ends = append(ends, i)
			continue
		}
		i++
	}
	if len(ends) == 0 || ends[len(ends)-1] < len(data) {
		ends = append(ends, len(data))
	}
	return ends
}

// failsWith reports whether decoding data fails with the message msg.
func failsWith(data []byte, msg string) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == nil {
			continue
		}
		got := err.Error()
		if m := yamlMessage.FindStringSubmatch(got); m != nil {
			got = m[1]
		}
		return got == msg
	}
}
