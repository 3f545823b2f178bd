// Package scan reads the manifests named on a command line and decides
// every image field in them with the mirror engine. It is the first step
// of every command that acts on images: rewrite, images, sync and verify.
package scan

import (
	"context"
	"io"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Inputs names the manifests to read, as a command line does.
type Inputs struct {
	// Stdin is read for "-", and when Args is empty.
	Stdin io.Reader
	// Args are files, directories (searched for .yaml, .yml and .json) and
	// "-".
	Args []string
}

// Summary counts what a scan read.
type Summary struct {
	Files, Documents int
	// Warnings are the problems that left images as they were.
	Warnings []manifest.Warning
}

// Images decides every image field of the inputs with eng and calls fn for
// each, in stream order. An error from fn stops the scan and is returned;
// so is a manifest that does not parse (*manifest.SyntaxError), before fn
// sees any image of it.
func Images(ctx context.Context, in Inputs, eng *mirror.Engine, fn func(manifest.Image) error) (*Summary, error) {
	files, err := fileset.List(in.Stdin, in.Args)
	if err != nil {
		return nil, err
	}
	s := &Summary{Files: len(files)}
	var results []*manifest.Result
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r, err := f.Open()
		if err != nil {
			return nil, err
		}
		res, err := manifest.Scan(f.Name, r, eng, func(manifest.Image) bool { return true })
		r.Close()
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	for _, res := range results {
		s.Documents += res.Documents
		s.Warnings = append(s.Warnings, res.Warnings...)
		for _, img := range res.Images {
			if err := fn(img); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}
