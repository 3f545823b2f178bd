package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/jsonnode"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Part is a run of a stream as the splitter cut it, holding one document
// or more (or only comments), with every image in it decided.
type Part struct {
	// Data is the run as read; Offset and Line are where it starts in the
	// stream, Line counting from 1.
	Data   []byte
	Offset int64
	Line   int
	// Documents counts the non-empty documents in Data, Changed those with
	// an image rewritten.
	Documents, Changed int
	// Images lists the image fields, in order; Warnings the problems that
	// left images as they were.
	Images   []Image
	Warnings []Warning
	// Edits rewrite the images, in order, at offsets in Data.
	Edits []Edit
	// entries: Data holds entries of a block sequence, each an object.
	entries bool
	// list is the part of a List handed over in parts, or 0 (see
	// listsplit.go).
	list int
}

// Edit replaces Data[Start:End] of a Part with Text.
type Edit struct {
	Start, End int
	Text       string
}

// WriteTo writes the part with its edits made.
func (p *Part) WriteTo(w io.Writer) (int64, error) {
	var n int64
	pos := 0
	for _, e := range p.Edits {
		k, err := w.Write(p.Data[pos:e.Start])
		n += int64(k)
		if err != nil {
			return n, err
		}
		k, err = io.WriteString(w, e.Text)
		n += int64(k)
		if err != nil {
			return n, err
		}
		pos = e.End
	}
	k, err := w.Write(p.Data[pos:])
	return n + int64(k), err
}

// decider decides the images of documents: the walk finds them, decide
// (the engine's Decide, or a memo of it) decides each.
type decider struct {
	decide func(string) mirror.Decision
	walk   *Walk
}

// decidePart parses the run c of the stream file and decides its images.
// Document numbers in it count from 1; the caller adds the documents of the
// runs before. In a list, c holds entries of a block sequence, each an
// object of its own.
func decidePart(file string, c Chunk, list bool, dc decider) (*Part, error) {
	p := &Part{Data: c.Data, Offset: c.Offset, Line: c.Line, entries: list || c.list == listItems, list: c.list}
	switch c.list {
	case listHead:
		p.Documents = 1 // the List, whose items follow
		return p, nil
	case listTail:
		return p, nil
	case listItems:
		// The items are of the List counted in the head: an error is in
		// the document before.
		err := p.invalidUTF8(file)
		if err == nil {
			err = p.decideYAML(file, c.item, dc)
		}
		if se := (*SyntaxError)(nil); errors.As(err, &se) {
			se.Document = 0
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := p.invalidUTF8(file); err != nil {
		return nil, err
	}
	if at, ok := jsonStart(c.Data); ok && !list {
		err := p.decideJSON(file, at, dc)
		if err == nil {
			return p, nil
		}
		var se *jsonnode.SyntaxError
		if !errors.As(err, &se) {
			return nil, err
		}
		// Not JSON after all, but it may be YAML in flow style; if it is
		// neither, say why it is not JSON when it looked like JSON.
		p.Documents, p.Changed, p.Images, p.Warnings, p.Edits = 0, 0, nil, nil, nil
		if yerr := p.decideYAML(file, -1, dc); yerr == nil {
			return p, nil
		} else if !looksLikeJSON(c.Data[at:]) {
			return nil, yerr
		}
		line := c.Line + countBreaks(c.Data[:at]) + se.Line - 1
		return nil, &SyntaxError{File: file, Document: 1, Line: line, Err: fmt.Errorf("not valid JSON: %s", se.Msg)}
	}
	if err := p.decideYAML(file, -1, dc); err != nil {
		return nil, err
	}
	return p, nil
}

// jsonStart returns where the JSON of data starts, past a byte order mark,
// white space, comments and document markers, when it starts with { or [.
// A document that starts on its marker's line ("--- {...}") is YAML: the
// JSON objects after it would be more content of that document, which
// YAML refuses, as kubectl does.
func jsonStart(data []byte) (int, bool) {
	at := 0
	if bytes.HasPrefix(data, bom) {
		at = len(bom)
	}
	for at < len(data) {
		switch data[at] {
		case ' ', '\t', '\r', '\n':
			at++
		case '{', '[':
			return at, true
		default:
			line := data[at:]
			if i := bytes.IndexByte(line, '\n'); i >= 0 {
				line = line[:i+1]
			}
			if !isMarker(line) && line[0] != '#' && line[0] != '%' || isMarker(line) && isContent(line[3:]) {
				return 0, false
			}
			at += len(line)
		}
	}
	return 0, false
}

// looksLikeJSON tells JSON that does not parse from YAML in flow style.
func looksLikeJSON(b []byte) bool {
	b = bytes.TrimLeft(b, "{[ \t\r\n")
	return len(b) == 0 || b[0] == '"' || b[0] == '}' || b[0] == ']'
}

func (p *Part) decideJSON(file string, at int, dc decider) error {
	base := p.Line + countBreaks(p.Data[:at])
	loc := newLocator(p.Data[at:], true)
	loc.base = at
	return jsonnode.ParseValues(p.Data[at:], func(root *yaml.Node) error {
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			return nil
		}
		return p.decideDocument(file, root, base, loc, dc, -1)
	})
}

// decideYAML decides the YAML documents of the part, or when item is not
// negative the entries of the run of a List's items whose first is item.
func (p *Part) decideYAML(file string, item int, dc decider) error {
	dec := yaml.NewDecoder(bytes.NewReader(p.Data))
	loc := newLocator(p.Data, false)
	var tags *locator // finds the tags "!" that yaml.v3 drops
	if mayHaveNonSpecific(p.Data) {
		tags = newLocator(p.Data, false)
	}
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return nil
		} else if err != nil {
			return yamlError(file, p.Documents+1, p.Line, p.Data, err)
		}
		if isEmpty(&doc) {
			continue
		}
		if tags != nil {
			markNonSpecific(&doc, tags)
		}
		roots := doc.Content[:1]
		if p.entries && roots[0].Kind == yaml.SequenceNode {
			roots = roots[0].Content
		}
		for i, root := range roots {
			at := -1
			if item >= 0 {
				at = item + i
			}
			if err := p.decideDocument(file, root, p.Line, loc, dc, at); err != nil {
				return err
			}
		}
	}
}

// decideDocument decides the images of the document root, whose line 1 is
// line base of the stream, and records the edits, located by loc. When
// item is not negative, root is that item of a List handed over in parts:
// its fields are the List's, at "items[item]".
func (p *Part) decideDocument(file string, root *yaml.Node, base int, loc *locator, dc decider, item int) error {
	var prefix Path
	if item < 0 {
		p.Documents++
	} else {
		prefix = Path{{Key: "items"}, {Index: item}}
	}
	// fail refuses the document, at a line counted in it.
	fail := func(line int, err error) error {
		return &SyntaxError{File: file, Document: p.Documents, Line: base + line - 1, Err: err}
	}
	decisions, line, err := decideObject(root, dc.walk, dc.decide)
	if err != nil {
		// A duplicate key names its lines in the stream.
		var dup *DuplicateKeyError
		if errors.As(err, &dup) {
			dup.First, dup.Second = base+dup.First-1, base+dup.Second-1
		}
		return fail(line, err)
	}
	changed := false
	// A scalar shared by several fields is edited once, or left for all.
	edited, left := map[*yaml.Node]bool{}, map[*yaml.Node]string{}
	for i := range decisions {
		d := &decisions[i]
		if n := d.Target; n != nil && !edited[n] {
			if why, ok := left[n]; ok {
				d.leave(why)
			} else if e, err := loc.locate(n, d.Text(d.Decision.Result)); errors.As(err, new(cannotEdit)) {
				left[n] = err.Error()
				d.leave(left[n])
			} else if err != nil {
				return fail(n.Line, err)
			} else {
				if d.Prefix != "" || d.Suffix != "" {
					e = loc.around(n, e, p.Data, d.Value(), d.Decision.Result, d.Text(d.Decision.Result))
				}
				edited[n] = true
				p.Edits = append(p.Edits, e)
				changed = true
			}
		}
		path := d.Path
		if prefix != nil {
			path = append(prefix[:len(prefix):len(prefix)], d.Path...)
		}
		l := Location{File: file, Document: p.Documents, Line: base + d.Site.Line - 1, Object: d.Object, Path: path.String()}
		if d.Warning != "" {
			p.Warnings = append(p.Warnings, Warning{l, d.Decision.Image, d.Warning})
		}
		p.Images = append(p.Images, imageOf(l, d))
	}
	if changed && item < 0 {
		p.Changed++
	}
	return nil
}

// invalidUTF8 reports the first byte of the part that is not UTF-8, or
// returns nil.
func (p *Part) invalidUTF8(file string) error {
	if utf8.Valid(p.Data) {
		return nil
	}
	at := 0
	for at < len(p.Data) {
		r, size := utf8.DecodeRune(p.Data[at:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		at += size
	}
	start := bytes.LastIndexByte(p.Data[:at], '\n') + 1
	return &SyntaxError{File: file, Document: p.Documents + 1, Line: p.Line + countBreaks(p.Data[:at]),
		Err: fmt.Errorf("invalid UTF-8 (byte %#x at column %d)", p.Data[at], utf8.RuneCount(p.Data[start:at])+1)}
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
