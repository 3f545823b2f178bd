package manifest

import (
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

// Rewriter applies a mirror engine to the image fields of parsed objects.
// It is a kio.Filter, so it runs in a kio.Pipeline and serves the KRM
// function; it sets the image values of the nodes in place and returns the
// same nodes. It decides every image as [Rewrite] does and reports the same
// warnings.
type Rewriter struct {
	// Engine decides every image.
	Engine *mirror.Engine
	// File names the source of the nodes in the locations of Images and
	// Warnings.
	File string

	// Images lists every image field that the last Filter call found, in
	// document order; Location.Document is the node's position, from 1, and
	// Location.Line its line in what it was parsed from.
	Images []Image
	// Warnings are the problems that left an image as it was.
	Warnings []Warning
}

var _ kio.Filter = (*Rewriter)(nil)

// Filter rewrites the image fields of each node and returns nodes. It
// fails on an object that holds a key twice on the way to an image, or
// whose aliases expand without end.
func (r *Rewriter) Filter(nodes []*yaml.RNode) ([]*yaml.RNode, error) {
	r.Images, r.Warnings = nil, nil
	wk := WalkOf(r.Engine)
	for i, n := range nodes {
		if err := r.rewriteObject(i+1, n.YNode(), wk); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// rewriteObject decides every image of one object before it sets any, so
// that an anchored image is decided on its value as written, like Rewrite.
func (r *Rewriter) rewriteObject(doc int, root *yaml.Node, wk *Walk) error {
	if root == nil {
		return nil
	}
	decisions, line, err := decideObject(root, wk, r.Engine.Decide)
	if err != nil {
		return &SyntaxError{File: r.File, Document: doc, Line: line, Err: err}
	}
	for i := range decisions {
		d := &decisions[i]
		loc := Location{File: r.File, Document: doc, Line: d.Site.Line, Object: d.Object, Path: d.Path.String()}
		if d.Warning != "" {
			r.Warnings = append(r.Warnings, Warning{loc, d.Decision.Image, d.Warning})
		}
		r.Images = append(r.Images, imageOf(loc, d))
	}
	for _, d := range decisions {
		if n := d.Target; n != nil {
			n.Value = d.Text(d.Decision.Result)
			// An image is a string even where it was written as something
			// the decoder tagged otherwise.
			n.Tag = "!!str"
			n.Style &^= yaml.TaggedStyle
		}
	}
	return nil
}
