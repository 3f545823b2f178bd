package jsonnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// jsonDocs are documents whose trees Parse must make exactly as yaml.v3
// does.
var jsonDocs = []string{
	`{}`,
	`[]`,
	`{"a":1,"b":-2.5e3,"c":true,"d":false,"e":null,"f":"x","g":[1,[2,[]],{}],"h":{"i":{"j":"k"}}}`,
	` { "spaced" : [ 1 , 2 ] , "tabs"	:	"\t" } `,
	"{\n  \"lines\": [\n    1,\n    {\"a\": \"b\"}\r\n  ]\n}\n",
	`{"image":"k8s.gcr.io/coredns:1.3.1","quoted":"\"q\"","unicode":"\u00e9t\u00e9","raw":"été"}`,
	`{"null":"null","true":"true","number":"1","empty":""}`,
	`{"dup":1,"dup":2}`,
	`{"deep":[[[[[[[[[[{"x":[0,-0,0.5,1E+2,1e-2]}]]]]]]]]]]}`,
	`"a string"`,
	`42`,
	`{"kind":"Pod","metadata":{"name":"p","annotations":{"a/b":"c~d"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}`,
}

// samplePod is a Pod as the API server sends it.
const samplePod = `{"apiVersion":"v1","kind":"Pod","metadata":{"labels":{"app":"web"},"name":"web","namespace":"shop"},` +
	`"spec":{"containers":[{"env":[{"name":"PASSWORD","value":"s3cr3t"}],"image":"k8s.gcr.io/coredns:1.3.1","name":"app"},` +
	`{"image":"direct.to/busybox:latest","name":"side"}],"initContainers":[{"image":"quay.io/prometheus/busybox:1.36","name":"init"}],` +
	`"volumes":[{"image":{"reference":"docker.io/library/data:1"},"name":"data"}]}}`

func TestParseJSONMatchesYAML(t *testing.T) {
	docs := append([]string{}, jsonDocs...)
	docs = append(docs, samplePod)
	for i, doc := range docs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			got, err := Parse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			var want yaml.Node
			if err := yaml.Unmarshal([]byte(doc), &want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(shape(want.Content[0]), shape(got)); diff != "" {
				t.Errorf("tree (-yaml.v3 +parseJSON):\n%s", diff)
			}
		})
	}
}

// shape is the part of a node tree the walk reads.
type nodeShape struct {
	Line    int
	Column  int
	Kind    yaml.Kind
	Tag     string
	Value   string
	Style   yaml.Style
	Content []nodeShape
}

func shape(n *yaml.Node) nodeShape {
	s := nodeShape{Line: n.Line, Column: n.Column, Kind: n.Kind, Tag: n.Tag, Value: n.Value, Style: n.Style}
	if n.Kind != yaml.ScalarNode {
		s.Value = ""
	}
	for _, c := range n.Content {
		s.Content = append(s.Content, shape(c))
	}
	return s
}

// TestArenaReuse parses documents one after the other in one arena, big
// and small, valid and not, as the handler does from request to request.
func TestArenaReuse(t *testing.T) {
	docs := append([]string{samplePod, `{"x":`}, jsonDocs...)
	docs = append(docs, docs...)
	a := new(Arena)
	for i, doc := range docs {
		want, wantErr := Parse([]byte(doc))
		got, err := a.Parse([]byte(doc))
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("document %d: error %v, want %v", i, err, wantErr)
		}
		if err == nil {
			if diff := cmp.Diff(shape(want), shape(got)); diff != "" {
				t.Errorf("document %d in a used arena (-fresh +reused):\n%s", i, diff)
			}
		}
		a.Release()
		a = GetArena()
	}
}

func TestParseJSONRejectsMalformed(t *testing.T) {
	for _, doc := range []string{
		``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{a:1}`, `{'a':1}`,
		`"unterminated`, "\"tab\tinside\"", `"bad \x escape"`, `01`, `-`, `1.`, `1e`, `.5`, `+1`,
		`tru`, `nul`, `[true false]`, `{} {}`, `{"a":1}x`, `NaN`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("no error for %q", doc)
		}
		if json.Valid([]byte(doc)) {
			t.Errorf("test case %q is valid JSON", doc)
		}
	}
}

// FuzzParseJSON holds parseJSON to encoding/json: it accepts exactly the
// valid documents, and reads the same values from them.
func FuzzParseJSON(f *testing.F) {
	for _, doc := range jsonDocs {
		f.Add([]byte(doc))
	}
	f.Add([]byte(`"\ud83d\ude00 \ud800 \u2028"`))
	// JSON escapes a slash, YAML does not.
	f.Add([]byte(`{"slash":"a\/b"}`))
	f.Add([]byte("\"\xff\""))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := Parse(data)
		if valid := json.Valid(data); valid != (err == nil) {
			t.Fatalf("json.Valid is %v, parseJSON error is %v", valid, err)
		}
		if err != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want any
		if err := dec.Decode(&want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, toAny(n)); diff != "" {
			t.Errorf("value (-encoding/json +parseJSON):\n%s", diff)
		}
	})
}

// toAny returns the value encoding/json decodes, with UseNumber, from the
// document n was parsed from.
func toAny(n *yaml.Node) any {
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = toAny(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			s = append(s, toAny(c))
		}
		return s
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		return n.Value == "true"
	case "!!int", "!!float":
		return json.Number(n.Value)
	}
	return n.Value
}

func TestPlainASCII(t *testing.T) {
	for c := range 256 {
		for _, at := range []int{0, 3, 7, 8, 13, 15} {
			b := []byte("abcdefghijklmnop")
			b[at] = byte(c)
			want := c >= 0x20 && c < 0x80 && c != '\\'
			if got := plainASCII(string(b)); got != want {
				t.Errorf("byte %#x at %d: %v, want %v", c, at, got, want)
			}
		}
	}
}

func TestArenaLimits(t *testing.T) {
	for _, tc := range []struct {
		name               string
		doc                string
		maxNodes, maxDepth int
		want               error
	}{
		{"values at the limit", `[1,[2,3],{"a":4}]`, 8, 0, nil},
		{"one value over", `[1,[2,3],{"a":4}]`, 7, 0, ErrTooManyNodes},
		{"a key counts", `{"a":1}`, 2, 0, ErrTooManyNodes},
		{"empty strings count", `["","",""]`, 3, 0, ErrTooManyNodes},
		{"depth at the limit", `[[{"a":[]}]]`, 0, 4, nil},
		{"one level over", `[[{"a":[[]]}]]`, 0, 4, ErrTooDeep},
		{"a scalar is no level", `[[1]]`, 0, 2, nil},
		{"no limits", strings.Repeat("[", 100) + strings.Repeat("]", 100), 0, 0, nil},
		{"encoding/json's nesting limit stays", strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), 0, maxDepth + 5, ErrTooDeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Arena{MaxNodes: tc.maxNodes, MaxDepth: tc.maxDepth}
			_, err := a.Parse([]byte(tc.doc))
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestArenaStopsAtTheNodeLimit holds a parse over the limit to the memory
// of the limit: a million empty strings cost 150 MB of nodes.
func TestArenaStopsAtTheNodeLimit(t *testing.T) {
	doc := []byte("[" + strings.Repeat(`"",`, 1<<20) + `""]`)
	a := &Arena{MaxNodes: 1000}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := a.Parse(doc)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooManyNodes) {
		t.Fatalf("error %v, want ErrTooManyNodes", err)
	}
	// The copy of the document, and a few nodes.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(len(doc))+1<<20 {
		t.Errorf("the parse allocated %d bytes for a document of %d", alloc, len(doc))
	}
}
