package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
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
	// Left says why an image that the rules change is left as written
	// (the image is a block scalar, say); "" when the decision is applied.
	Left string
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

// Warning is a problem that left an image as it was.
type Warning struct {
	Location
	// Image is the value of the field, as written.
	Image   string `json:"image"`
	Message string `json:"message"`
}

func (w Warning) String() string { return w.Location.String() + ": " + w.Message }

// Result is the outcome of rewriting one stream.
type Result struct {
	File string
	// Output is the rewritten stream, set by Rewrite only; after Scan,
	// Apply writes it.
	Output []byte
	// Images lists the image fields found, in stream order: every one after
	// Rewrite, those the keep function chose after Scan.
	Images   []Image
	Warnings []Warning
	// Documents counts the non-empty documents; Changed those with at least
	// one rewritten image; Rewrites the rewritten images.
	Documents, Changed, Rewrites int

	edits []edit
	// sum is the checksum of the stream Scan read, for Apply to check that
	// it reads the same stream again.
	sum uint32
}

// Rewritten returns the kept images whose value changed.
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
// file (used in reports), and keeps every image in the Result. It fails only
// on a stream that does not parse.
func Rewrite(file string, data []byte, eng *mirror.Engine) (*Result, error) {
	res, err := Scan(file, bytes.NewReader(data), eng, func(Image) bool { return true })
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(data) + 64*res.Rewrites)
	if err := res.Apply(&out, bytes.NewReader(data)); err != nil {
		return nil, err
	}
	res.Output = out.Bytes()
	return res, nil
}

// Scan decides every image field of the stream read from r, one document
// at a time: memory holds the current document and the edits to make, not
// the stream. Apply then writes the rewritten stream. keep chooses the
// images kept in Result.Images; nil keeps none. Scan fails only on a stream
// that cannot be read or does not parse.
func Scan(file string, r io.Reader, eng *mirror.Engine, keep func(Image) bool) (*Result, error) {
	res := &Result{File: file}
	sum := crc32.NewIEEE()
	err := splitDocuments(io.TeeReader(r, sum), func(c chunk) error {
		dec := yaml.NewDecoder(bytes.NewReader(c.data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err == io.EOF {
				return nil
			} else if err != nil {
				return syntaxError(file, res.Documents+1, c, err)
			}
			if isEmpty(&doc) {
				continue
			}
			res.Documents++
			if res.scanDocument(c, doc.Content[0], eng, keep) {
				res.Changed++
			}
		}
	})
	if err != nil {
		var se *SyntaxError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	res.sum = sum.Sum32()
	return res, nil
}

// Apply writes src, the stream that Scan read, to w with the rewritten
// images. It fails if src is not that stream, as when a file changed
// between the two reads; w then holds a wrong stream, so a caller writes
// to a temporary file or a buffer first where that matters.
func (r *Result) Apply(w io.Writer, src io.Reader) error {
	sum := crc32.NewIEEE()
	src = io.TeeReader(src, sum)
	pos := 0
	for _, e := range r.edits {
		if _, err := io.CopyN(w, src, int64(e.start-pos)); err != nil {
			return r.applyError(err)
		}
		if _, err := io.CopyN(io.Discard, src, int64(e.end-e.start)); err != nil {
			return r.applyError(err)
		}
		if _, err := io.WriteString(w, e.text); err != nil {
			return r.applyError(err)
		}
		pos = e.end
	}
	if _, err := io.Copy(w, src); err != nil {
		return r.applyError(err)
	}
	if sum.Sum32() != r.sum {
		return r.applyError(errChanged)
	}
	return nil
}

var errChanged = errors.New("the input changed while kmirror was rewriting it")

func (r *Result) applyError(err error) error {
	if err == io.EOF {
		err = errChanged
	}
	return fmt.Errorf("rewriting %s: %w", r.File, err)
}

// scanDocument decides each image of one document and records the edits
// that apply the changes, as offsets in the whole stream. It reports
// whether the document changed.
func (res *Result) scanDocument(c chunk, root *yaml.Node, eng *mirror.Engine, keep func(Image) bool) bool {
	li := &lineIndex{data: c.data}
	changed := false
	for _, d := range decideObject(Images(root), eng) {
		loc := Location{File: res.File, Document: res.Documents, Line: c.line + d.Node.Line - 1, Object: d.Object, Path: d.Path.String()}
		if d.Target != nil {
			e, err := li.locate(d.Target, d.Decision.Result)
			if err != nil {
				d.leave(err.Error() + "; left unchanged")
			} else {
				e.start += c.offset
				e.end += c.offset
				res.edits = append(res.edits, e)
				changed = true
			}
		}
		if d.Warning != "" {
			res.Warnings = append(res.Warnings, Warning{loc, d.Decision.Image, d.Warning})
		}
		if d.Decision.Changed() {
			res.Rewrites++
		}
		if img := (Image{Location: loc, Decision: d.Decision}); keep != nil && keep(img) {
			res.Images = append(res.Images, img)
		}
	}
	return changed
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
