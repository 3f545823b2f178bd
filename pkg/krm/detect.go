package krm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/jsonnode"
)

// Kind is the kind of the list a KRM function reads and writes.
const Kind = "ResourceList"

// group is the API group of every version of ResourceList.
const group = "config.kubernetes.io/"

// IsResourceList reports whether data is one ResourceList document, and
// so input for the KRM function rather than a stream of manifests. Data that
// does not parse is not.
func IsResourceList(data []byte) bool {
	if !bytes.Contains(data, []byte(Kind)) {
		return false
	}
	doc, err := parse(data)
	return err == nil && isResourceList(doc.Content[0])
}

func isResourceList(n *yaml.Node) bool {
	return scalar(lookup(n, "kind")) == Kind && strings.HasPrefix(scalar(lookup(n, "apiVersion")), group)
}

// parse decodes data, which must hold one non-empty document. JSON is read
// as encoding/json reads it, "\/" escapes included, which YAML refuses.
func parse(data []byte) (*yaml.Node, error) {
	if isJSON(data) {
		root, err := jsonnode.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("reading ResourceList: %w", err)
		}
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("reading ResourceList: line %d: not a mapping", root.Line)
		}
		return &yaml.Node{Kind: yaml.DocumentNode, Line: 1, Column: 1, Content: []*yaml.Node{root}}, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("reading ResourceList: empty input")
		}
		return nil, fmt.Errorf("reading ResourceList: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("reading ResourceList: line %d: not a mapping", doc.Line)
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			return &doc, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading ResourceList: %w", err)
		}
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			return nil, fmt.Errorf("reading ResourceList: line %d: a second document; a ResourceList comes alone", extra.Content[0].Line)
		}
	}
}

// lookup returns the value of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// DetectLimit is how much of a stream Detect parses whole, when the stream
// is that short.
const DetectLimit = 64 << 10

// Detect reads the start of the stream r and reports whether it is a
// ResourceList, which kmirror runs as a KRM function: whether the first
// document's own "kind" and "apiVersion" say so. A stream of up to
// DetectLimit bytes is parsed whole, and must be one document. A longer
// one is read line by line, or in JSON token by token, only as far as it
// takes to find both or one that rules it out: the kind may come after a
// long list of items, in keys sorted as PyYAML and encoding/json write
// them, and memory does not grow with the list. Detect reads ahead of what
// it needs; the caller keeps what it read. It fails only when r does.
func Detect(r io.Reader) (bool, error) {
	br := bufio.NewReaderSize(r, DetectLimit)
	head, err := br.Peek(DetectLimit)
	switch {
	case err == io.EOF:
		return IsResourceList(head), nil
	case err != nil && err != bufio.ErrBufferFull:
		return false, err
	case isJSON(head):
		return detectJSON(br)
	}
	return detectYAML(br)
}

// topLevel is what the first document says of itself so far.
type topLevel struct {
	kind, version       string
	hasKind, hasVersion bool
}

// decided reports whether t is a ResourceList, and whether that is known
// before the end of the document.
func (t topLevel) decided() (is, known bool) {
	switch {
	case t.hasKind && t.kind != Kind, t.hasVersion && !strings.HasPrefix(t.version, group):
		return false, true
	case t.hasKind && t.hasVersion:
		return true, true
	}
	return false, false
}

func (t *topLevel) set(key string, v any) {
	s, ok := v.(string)
	switch {
	case key == "kind":
		t.kind, t.hasKind = s, true
	case key == "apiVersion":
		t.version, t.hasVersion = s, true
	default:
		return
	}
	if !ok { // not a string: no ResourceList
		t.hasKind, t.kind = true, ""
	}
}

// detectYAML reads the keys at the left margin of the first YAML document
// of br. A line is read up to its first kilobyte, enough for a key and a
// short value, so that a long line costs no memory.
func detectYAML(br *bufio.Reader) (bool, error) {
	var t topLevel
	started := false
	for {
		body, err := lineStart(br, 1<<10)
		if err != nil && err != io.EOF {
			return false, err
		}
		switch {
		case len(body) == 0 || body[0] == ' ' || body[0] == '\t' || body[0] == '#' || body[0] == '%':
			// indented, blank, a comment or a directive
		case isMarkerLine(body):
			if started {
				is, _ := t.decided()
				return is, nil
			}
		case body[0] == '-':
			if !started {
				return false, nil // a list, not a mapping
			}
		default:
			started = true
			var m map[string]any
			if yaml.Unmarshal(body, &m) == nil {
				for _, key := range []string{"kind", "apiVersion"} {
					if v, ok := m[key]; ok {
						t.set(key, v)
					}
				}
			}
			if is, known := t.decided(); known {
				return is, nil
			}
		}
		if err == io.EOF {
			is, _ := t.decided()
			return is, nil
		}
	}
}

// lineStart returns the next line of br without its line break, cut at
// max bytes. A line ends at LF, CRLF or a lone CR, as YAML ends one.
func lineStart(br *bufio.Reader, max int) ([]byte, error) {
	var out []byte
	for {
		c, err := br.ReadByte()
		if err != nil {
			if len(out) > 0 && err == io.EOF {
				return out, nil
			}
			return out, err
		}
		switch c {
		case '\n':
			return out, nil
		case '\r':
			if next, err := br.Peek(1); err == nil && next[0] == '\n' {
				br.ReadByte()
			}
			return out, nil
		}
		if len(out) < max {
			out = append(out, c)
		}
	}
}

// detectJSON reads the members of the first JSON object of r, skipping
// their values token by token. Input that is not JSON is no ResourceList.
func detectJSON(r io.Reader) (bool, error) {
	dec := json.NewDecoder(r)
	var t topLevel
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false, readErr(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, readErr(err)
		}
		key, _ := tok.(string)
		if key == "kind" || key == "apiVersion" {
			if tok, err = dec.Token(); err != nil {
				return false, readErr(err)
			}
			t.set(key, tok)
			if _, open := tok.(json.Delim); open {
				return false, nil
			}
		} else if err := skipValue(dec); err != nil {
			return false, readErr(err)
		}
		if is, known := t.decided(); known {
			return is, nil
		}
	}
	is, _ := t.decided()
	return is, nil
}

// skipValue reads the next value of dec, however large, one token at a
// time.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// readErr keeps the error of a read, and drops that of JSON that does not
// parse, which is no ResourceList.
func readErr(err error) error {
	var se *json.SyntaxError
	if err == nil || err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &se) {
		return nil
	}
	return err
}
