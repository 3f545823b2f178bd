package manifest

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"kmirror.dev/kmirror/pkg/mirror"
)

// Printable returns s, text taken from a manifest, with its control
// characters escaped ("\x1b", "\u009b"), and the characters that reorder
// text on a screen ("\u202e") and bytes that are not UTF-8 too, so that the
// text cannot move the cursor, recolour or rewrite a terminal, or hide
// itself in a log. Messages and reports show manifest text through it; the
// JSON reports escape with encoding/json instead.
func Printable(s string) string {
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unprintable(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unprintable(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// unprintable reports a control character, a character that reorders
// text (the bidirectional embeddings, overrides and isolates), or a byte
// that is not UTF-8.
func unprintable(r rune) bool {
	return unicode.IsControl(r) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == utf8.RuneError
}

// Location says where an image field is, in terms a user can follow.
type Location struct {
	File string `json:"file"`
	// Document counts the non-empty documents of the file from 1.
	Document int    `json:"document"`
	Line     int    `json:"line"`
	Object   Object `json:"object"`
	Path     string `json:"path"`
}

func (l Location) String() string {
	s := fmt.Sprintf("%s: document %d", Printable(l.File), l.Document)
	if o := l.Object.String(); o != "" {
		s += " (" + Printable(o) + ")"
	}
	return fmt.Sprintf("%s, line %d: %s", s, l.Line, Printable(l.Path))
}

// Image is an image field found in a stream, with the engine's decision.
type Image struct {
	Location
	Decision mirror.Decision
	// Left says why an image that the rules change is left as written
	// (the image is a block scalar, say); "" when the decision is applied.
	Left string
	// Found says how the walk knows the field holds an image.
	Found Found
	// UsedBy lists the paths of the fields that name this one instead of
	// an image: the steps whose image is a parameter, for its default.
	UsedBy []string
}

// imageOf returns the report of the decided field d, at l.
func imageOf(l Location, d *decided) Image {
	img := Image{Location: l, Decision: d.Decision, Left: d.Left, Found: d.Found}
	for _, p := range d.UsedBy {
		img.UsedBy = append(img.UsedBy, p.String())
	}
	return img
}

// Pulled returns the image the cluster pulls once the manifest is
// rewritten: the decision's result, or the image as written when it is
// left.
func (img Image) Pulled() string {
	if img.Left != "" {
		return img.Decision.Image
	}
	return img.Decision.Result
}

// Rewritten reports whether the image is rewritten in the output.
func (img Image) Rewritten() bool { return img.Left == "" && img.Decision.Changed() }

// Warning is a problem that left an image as it was.
type Warning struct {
	Location
	// Image is the value of the field, as written.
	Image   string `json:"image"`
	Message string `json:"message"`
}

func (w Warning) String() string { return w.Location.String() + ": " + Printable(w.Message) }

// SyntaxError is a stream that is not YAML or JSON, or that kmirror
// refuses to edit.
type SyntaxError struct {
	File     string
	Document int
	Line     int
	Err      error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s: document %d, line %d: %s", Printable(e.File), e.Document, e.Line, Printable(e.Err.Error()))
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// EncodingError is a stream in an encoding other than UTF-8. kmirror edits
// bytes in place, and refuses rather than write UTF-8 into UTF-16 text.
type EncodingError struct {
	File, Encoding string
}

func (e *EncodingError) Error() string {
	return fmt.Sprintf("%s: the file is %s text; kmirror reads and writes UTF-8 only: convert it first, e.g. iconv -f %s -t UTF-8",
		Printable(e.File), e.Encoding, e.Encoding)
}
