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

// Visitor is called with what a scan finds. File is called when an input
// starts, with its name; Part with each part of it, in order. Either may
// be nil; an error from either stops the scan.
type Visitor struct {
	File func(name string) error
	Part func(*manifest.Part) error
}

// Each reads each input once, in order, decides every image in it with
// eng, calls v, and returns the counts of all inputs. It stops when ctx is
// done, and at the first error: of v, or of an input that cannot be read,
// does not parse (*manifest.SyntaxError) or is not UTF-8
// (*manifest.EncodingError). v has then seen the inputs and parts before
// the one at fault, so a command that prints what v gets prints to a
// spool, and discards it on error.
func Each(ctx context.Context, files []fileset.File, eng *mirror.Engine, v Visitor) (manifest.Summary, error) {
	var total manifest.Summary
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if v.File != nil {
			if err := v.File(f.Name); err != nil {
				return total, err
			}
		}
		sum, err := file(ctx, f, eng, v.Part)
		total.Sum(sum)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func file(ctx context.Context, f fileset.File, eng *mirror.Engine, part func(*manifest.Part) error) (manifest.Summary, error) {
	r, err := f.Open()
	if err != nil {
		return manifest.Summary{}, err
	}
	defer r.Close()
	return Reader(ctx, f.Name, r, eng, part)
}

// Reader decides every image of the stream r, named name, with eng, and
// calls part, unless nil, with each of its parts in order. It stops when
// ctx is done, and at the first error, as Each does.
func Reader(ctx context.Context, name string, r io.Reader, eng *mirror.Engine, part func(*manifest.Part) error) (manifest.Summary, error) {
	return manifest.Scan(name, r, eng, func(p *manifest.Part) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if part == nil {
			return nil
		}
		return part(p)
	})
}

// Summary counts what Images read.
type Summary struct {
	manifest.Summary
	Files int
	// Warnings are the problems that left images as they were.
	Warnings []manifest.Warning
}

// Images decides every image field of the inputs with eng and calls fn for
// each, in stream order. An error from fn stops the scan and is returned;
// so is a manifest that does not parse (*manifest.SyntaxError). fn may
// have seen images of the inputs before the one at fault.
func Images(ctx context.Context, in Inputs, eng *mirror.Engine, fn func(manifest.Image) error) (*Summary, error) {
	files, err := fileset.List(in.Stdin, in.Args)
	if err != nil {
		return nil, err
	}
	s := &Summary{Files: len(files)}
	s.Summary, err = Each(ctx, files, eng, Visitor{Part: func(p *manifest.Part) error {
		s.Warnings = append(s.Warnings, p.Warnings...)
		for _, img := range p.Images {
			if err := fn(img); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	return s, nil
}
