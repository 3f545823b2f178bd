package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

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
	s := fmt.Sprintf("%s: document %d", l.File, l.Document)
	if o := l.Object.String(); o != "" {
		s += " (" + o + ")"
	}
	return fmt.Sprintf("%s, line %d: %s", s, l.Line, l.Path)
}

// Image is an image field found in a stream, with the engine's decision.
type Image struct {
	Location
	Decision mirror.Decision
}

// Warning is a problem that left an image as it was.
type Warning struct {
	Location
	Message string
}

func (w Warning) String() string { return w.Location.String() + ": " + w.Message }

// Result is the outcome of rewriting one stream.
type Result struct {
	File string
	// Output is the rewritten stream; it is the input itself when nothing
	// changed.
	Output []byte
	// Images lists every image field found, in stream order.
	Images   []Image
	Warnings []Warning
	// Documents counts the non-empty documents; Changed those with at least
	// one rewritten image.
	Documents, Changed int
}

// Rewritten returns the images whose value changed.
func (r *Result) Rewritten() []Image {
	var out []Image
	for _, img := range r.Images {
		if img.Decision.Changed() {
			out = append(out, img)
		}
	}
	return out
}

// SyntaxError is a stream that is not YAML or JSON.
type SyntaxError struct {
	File     string
	Document int
	Line     int
	Err      error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s: document %d, line %d: %v", e.File, e.Document, e.Line, e.Err)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Rewrite applies eng to every image field of the stream data, read from
// file (used in reports). It fails only on a stream that does not parse.
func Rewrite(file string, data []byte, eng *mirror.Engine) (*Result, error) {
	res := &Result{File: file, Output: data}
	var edits []edit
	for _, c := range splitDocuments(data) {
		dec := yaml.NewDecoder(bytes.NewReader(c.data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err == io.EOF {
				break
			} else if err != nil {
				return nil, syntaxError(file, res.Documents+1, c, err)
			}
			if isEmpty(&doc) {
				continue
			}
			res.Documents++
			chunkEdits := res.rewriteDocument(c, doc.Content[0], eng)
			if len(chunkEdits) > 0 {
				res.Changed++
				edits = append(edits, chunkEdits...)
			}
		}
	}
	res.Output = apply(data, edits)
	return res, nil
}

// rewriteDocument decides each image of one document and returns the edits
// that apply the changes, as offsets in the whole stream.
func (res *Result) rewriteDocument(c chunk, root *yaml.Node, eng *mirror.Engine) []edit {
	li := &lineIndex{data: c.data}
	fields := Images(root)
	own := map[*yaml.Node]bool{}
	for _, f := range fields {
		own[f.Node] = true
	}
	var edits []edit
	for _, f := range fields {
		loc := Location{File: res.File, Document: res.Documents, Line: c.line + f.Node.Line - 1, Object: f.Object, Path: f.Path.String()}
		n := f.Node
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		d := eng.Decide(n.Value)
		if d.Action == mirror.Invalid {
			res.Warnings = append(res.Warnings, Warning{loc, d.Err.Error()})
		}
		switch {
		case !d.Changed():
		case f.Node.Kind == yaml.AliasNode && own[n]:
			// The anchored image is a field of its own and is edited there.
		case f.Node.Kind == yaml.AliasNode:
			res.Warnings = append(res.Warnings, Warning{loc, "image is a YAML alias of a value that is not an image field; left unchanged"})
			d.Result = d.Image
		default:
			e, err := li.locate(n, d.Result)
			if err != nil {
				res.Warnings = append(res.Warnings, Warning{loc, err.Error() + "; left unchanged"})
				d.Result = d.Image
				break
			}
			e.start += c.offset
			e.end += c.offset
			edits = append(edits, e)
		}
		res.Images = append(res.Images, Image{loc, d})
	}
	return edits
}

// isEmpty reports whether a decoded document holds nothing: no content, or
// only comments, which decode to a null scalar.
func isEmpty(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == ""
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a decoder error, whose line counts from the start of
// its chunk, into one that counts from the start of the stream.
func syntaxError(file string, doc int, c chunk, err error) error {
	chunkLine, lastLine := c.line, c.line+bytes.Count(bytes.TrimRight(c.data, "\n"), []byte("\n"))
	line := chunkLine
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		// yaml.v3 reports a parser error at the line of its context, such
		// as the start of the enclosing mapping, counting from 0.
		if strings.HasPrefix(m[2], "did not find expected") {
			n++
		}
		line, msg = min(chunkLine+n-1, lastLine), m[2]
	}
	return &SyntaxError{File: file, Document: doc, Line: line, Err: errors.New(msg)}
}
