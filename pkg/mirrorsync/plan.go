// Package mirrorsync fills a mirror with the images that the rules send to
// it, and checks that a mirror holds the images manifests will pull. The
// rules that rewrite an image decide what to copy and what to check: a
// Plan holds the (source, mirror) pairs of the images the rules mirror,
// Run copies them a few at a time, and Verify asks the registries whether
// each image a cluster will pull is there. Both work through a
// registry.Client, so that the webhook can queue copies and checks on the
// same code.
package mirrorsync

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Pair is one copy: the source image as written, and the image the rules
// make of it.
type Pair struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// Plan collects pairs, each once, in the order first added.
type Plan struct {
	pairs []Pair
	seen  map[Pair]bool
}

// Add adds p unless the plan has it, and reports whether it was new.
func (pl *Plan) Add(p Pair) bool {
	if pl.seen == nil {
		pl.seen = map[Pair]bool{}
	}
	if pl.seen[p] {
		return false
	}
	pl.seen[p] = true
	pl.pairs = append(pl.pairs, p)
	return true
}

// AddImage adds the pair of an image field whose decision is "mirrored".
// Escaped images, images under no rule and images already under a "to"
// are not copied.
func (pl *Plan) AddImage(img manifest.Image) bool {
	d := img.Decision
	return d.Action == mirror.Mirrored && pl.Add(Pair{Source: d.Image, Target: d.Result})
}

// Pairs returns the pairs in the order added.
func (pl *Plan) Pairs() []Pair { return pl.pairs }

// Skipped is an image of a list that the rules do not mirror.
type Skipped struct {
	File  string
	Line  int
	Image string
	// Action says why: escaped, no rule, already mirrored.
	Action mirror.Action
}

func (s Skipped) String() string {
	return fmt.Sprintf("%s:%d: %s: %s, not copied", s.File, s.Line, s.Image, s.Action)
}

// ReadList adds the images of a list, as "kmirror images -o mirror-list"
// writes it: one source image per line; blank lines and "#" comments are
// allowed. Each image is decided by eng, as if it were in a manifest. It
// returns the images that the rules do not mirror; an image that is not
// a valid reference is an error naming file and line.
func (pl *Plan) ReadList(r io.Reader, file string, eng *mirror.Engine) ([]Skipped, error) {
	var skipped []Skipped
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(strings.TrimPrefix(sc.Text(), "\ufeff"), "#") // a byte order mark, as Windows editors write
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if strings.ContainsAny(text, " \t") {
			return nil, fmt.Errorf("%s:%d: one image per line, not %q", file, line, text)
		}
		d := eng.Decide(text)
		switch d.Action {
		case mirror.Mirrored:
			pl.Add(Pair{Source: d.Image, Target: d.Result})
		case mirror.Invalid:
			return nil, fmt.Errorf("%s:%d: %w", file, line, d.Err)
		default:
			skipped = append(skipped, Skipped{File: file, Line: line, Image: text, Action: d.Action})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return skipped, nil
}
