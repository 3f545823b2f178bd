package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/image"
	"kmirror.dev/kmirror/pkg/jsonnode"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Suspect is a string that looks like an image reference in a place the
// walk does not read: where a field no built-in knows, or a value passed
// to a program, holds an image.
type Suspect struct {
	Location
	// Image is the reference, as written in the value.
	Image string `json:"image"`
	// Entry is an entry of the rules that makes the walk read the value,
	// in YAML's flow style, ready to paste under spec.imageFields or
	// spec.imageValues: {kind: ConfigMap, path: data.CSI_IMAGE}, {env:
	// OPERATOR_IMAGE}, {arg: --image}. It is "" when no entry can, and Why
	// says why; Why may also warn about an entry.
	Entry string `json:"entry,omitempty"`
	// List is the list of the rules the entry goes in: "imageFields" or
	// "imageValues".
	List string `json:"list,omitempty"`
	Why  string `json:"why,omitempty"`
}

// Suspects finds the suspects of a part of the stream file that Scan gave,
// whose documents are counted after before others, with the walk of eng.
// A suspect is a string, or a word of one, that parses as a reference
// naming a registry host that a rule of eng covers, a repository, and a
// tag or a digest; that no image field holds; outside metadata and status,
// which only describe, and outside CRDs, whose schemas hold examples. It
// reads the part again, and is meant for an inventory, not for the
// rewrite's path.
func Suspects(file string, p *Part, before int, eng *mirror.Engine) ([]Suspect, error) {
	s := &suspecter{file: file, walk: WalkOf(eng), hosts: map[string]bool{}}
	for _, r := range eng.Rules().Mirrors {
		if from, err := image.ParsePrefix(r.From); err == nil {
			s.hosts[from.Registry] = true
		}
	}
	doc := before
	err := p.eachDocument(func(root *yaml.Node, base int) {
		if p.list != listItems && p.list != listTail {
			doc++ // the items and tail of a List in parts are of its head's document
		}
		s.document(root, doc, base)
	})
	return s.found, err
}

// eachDocument calls fn with the root of each document of p, and the line
// of the stream that is line 1 of the document, as decidePart reads them.
func (p *Part) eachDocument(fn func(root *yaml.Node, base int)) error {
	if at, ok := jsonStart(p.Data); ok && !p.entries {
		base := p.Line + countBreaks(p.Data[:at])
		err := jsonnode.ParseValues(p.Data[at:], func(root *yaml.Node) error {
			if root.Kind != yaml.ScalarNode || root.Tag != "!!null" {
				fn(root, base)
			}
			return nil
		})
		if se := (*jsonnode.SyntaxError)(nil); !errors.As(err, &se) {
			return err
		}
		// YAML in flow style, as decidePart found it.
	}
	dec := yaml.NewDecoder(bytes.NewReader(p.Data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if isEmpty(&doc) {
			continue
		}
		roots := doc.Content[:1]
		if p.entries && roots[0].Kind == yaml.SequenceNode {
			roots = roots[0].Content
		}
		for _, root := range roots {
			fn(root, p.Line)
		}
	}
}

// suspecter finds the suspects of documents.
type suspecter struct {
	file  string
	walk  *Walk
	hosts map[string]bool
	found []Suspect
	// fields are the values that image fields hold, in the document.
	fields map[*yaml.Node]bool
	steps  int
}

// context is the object a value is in, for its location and its entry.
type context struct {
	loc      Location
	group    string
	kind     string
	rootPath Path
	// node is the object's root, for the names of list entries.
	node *yaml.Node
}

func (s *suspecter) document(root *yaml.Node, doc, base int) {
	fields, err := s.walk.Images(root)
	if err != nil {
		return // the scan refused the document already
	}
	s.fields = map[*yaml.Node]bool{}
	for _, f := range fields {
		s.fields[f.Node] = true
	}
	s.steps = 0
	s.node(root, nil, context{loc: Location{File: s.file, Document: doc}, node: root}, base)
}

// node looks for suspects in n, at path, in the object ctx.
func (s *suspecter) node(n *yaml.Node, path Path, ctx context, base int) {
	if n = deref(n); n == nil {
		return
	}
	if s.steps++; s.steps > maxAliasSteps {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		ps, err := pairs(n)
		if err != nil {
			return
		}
		if kind, apiVersion := scalar(value(ps, "kind")), scalar(value(ps, "apiVersion")); kind != "" && apiVersion != "" {
			switch {
			case kind == "CustomResourceDefinition":
				return
			case strings.HasSuffix(kind, "List") && value(ps, "items") != nil:
				// Its items are objects of their own.
			default:
				meta := value(ps, "metadata")
				obj := Object{Kind: kind, Namespace: scalar(lookup(meta, "namespace")), Name: scalar(lookup(meta, "name"))}
				ctx = context{loc: Location{File: s.file, Document: ctx.loc.Document, Object: obj},
					group: groupOf(apiVersion), kind: kind, rootPath: path, node: n}
			}
		}
		for _, p := range ps {
			k := p.key.Value
			if k == "metadata" || k == "status" && len(path) == len(ctx.rootPath) {
				continue
			}
			s.node(p.value, path.with(k), ctx, base)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			s.node(item, path.at(i), ctx, base)
		}
	case yaml.ScalarNode:
		if s.fields[n] || notString(n) != nil {
			return
		}
		s.scalar(n, path, ctx, base)
	}
}

// scalar reports the suspects of the string n: the whole value, or the
// words of a longer one.
func (s *suspecter) scalar(n *yaml.Node, path Path, ctx context, base int) {
	text := scalar(n)
	if !strings.Contains(text, "/") || !strings.ContainsAny(text, ":@") {
		return // the fast way out: no reference with a host and a tag or digest
	}
	for _, w := range words(text) {
		ref, err := image.Parse(w.text)
		if err != nil || ref.Host == "" || ref.Suffix == "" || !s.hosts[ref.Registry] {
			continue
		}
		sus := Suspect{Location: ctx.loc, Image: w.text}
		sus.Line = base + n.Line - 1
		sus.Path = path.String()
		sus.List, sus.Entry, sus.Why = s.entry(text, w, path, ctx)
		s.found = append(s.found, sus)
	}
}

// word is a word of a string, and where it starts.
type word struct {
	text  string
	start int
}

// words splits a value into the words a reference could be: the whole
// value, or the runs between white space, quotes and the punctuation of
// lists and assignments, past a scheme ("docker://").
func words(v string) []word {
	var out []word
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := word{v[start:end], start}
		if i := strings.Index(w.text, "://"); i >= 0 {
			w.text, w.start = w.text[i+3:], w.start+i+3
		}
		if w.text != "" {
			out = append(out, w)
		}
		start = -1
	}
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(" \t\r\n\"'`,;=()[]{}<>|\\", v[i]) >= 0 {
			flush(i)
		} else if start < 0 {
			start = i
		}
	}
	flush(len(v))
	return out
}

// entry returns an entry of the rules that makes the walk read the word w
// of the value v at path, the list it goes in, or why there is none.
func (s *suspecter) entry(v string, w word, path Path, ctx context) (list, entry, why string) {
	rel := path[len(ctx.rootPath):]
	container := !skipKinds[ctx.kind] && len(rel) >= 4 && listBit(rel[len(rel)-4].Key) != 0 && rel[len(rel)-4].Key != "volumes" && rel[len(rel)-3].Key == ""
	// A container's argument: the word after a flag, or after "=".
	if container && len(rel) >= 2 && (rel[len(rel)-2].Key == "args" || rel[len(rel)-2].Key == "command") {
		if flag := flagBefore(v, w); flag != "" {
			return "imageValues", "{arg: " + flag + "}", ""
		}
		if w.start == 0 && len(w.text) == len(v) {
			if flag := s.previousArg(path, ctx); flag != "" {
				return "imageValues", "{arg: " + flag + "}", ""
			}
		}
	}
	if w.start != 0 || len(w.text) != len(v) {
		return "", "", "inside a longer string: kmirror rewrites whole values, and the images of flags"
	}
	// A container's variable, where the walk reads containers.
	if !skipKinds[ctx.kind] && len(rel) >= 5 && rel[len(rel)-1].Key == "value" && rel[len(rel)-3].Key == "env" &&
		listBit(rel[len(rel)-5].Key) != 0 && rel[len(rel)-5].Key != "volumes" {
		if name := s.envName(path, ctx); name != "" {
			return "imageValues", "{env: " + name + "}", ""
		}
	}
	p, ok := s.fieldPath(rel, ctx)
	if !ok {
		return "", "", "a key on its way is not one a field path can name (it holds . [ ] = * ( ) or white space)"
	}
	for _, e := range rel {
		if notByName[e.Key] && (e.Key == "output" || e.Key == "outputs") {
			why = "under " + e.Key + ", where a build pushes: declare it only if the cluster pulls it too"
		}
	}
	var b strings.Builder
	b.WriteString("{")
	if ctx.group != "" {
		b.WriteString("group: " + ctx.group + ", ")
	}
	if ctx.kind != "" {
		b.WriteString("kind: " + ctx.kind + ", ")
	}
	fmt.Fprintf(&b, "path: %q}", p)
	return "imageFields", b.String(), why
}

// flagBefore returns the flag whose value the word w of v is:
// "--flag=w", or "--flag w".
func flagBefore(v string, w word) string {
	before := v[:w.start]
	if strings.HasSuffix(before, "=") {
		i := strings.LastIndexAny(before[:len(before)-1], " \t") + 1
		if flag := before[i : len(before)-1]; strings.HasPrefix(flag, "-") {
			return flag
		}
		return ""
	}
	fields := strings.Fields(before)
	if len(fields) > 0 && strings.HasPrefix(fields[len(fields)-1], "-") && !strings.Contains(fields[len(fields)-1], "=") &&
		strings.TrimRight(before, " \t") != before {
		return fields[len(fields)-1]
	}
	return ""
}

// previousArg returns the flag that the argument before the one at path
// ends with, or "".
func (s *suspecter) previousArg(path Path, ctx context) string {
	last := path[len(path)-1]
	if last.Index == 0 {
		return ""
	}
	list := s.at(path[:len(path)-1], ctx)
	if list == nil || list.Kind != yaml.SequenceNode {
		return ""
	}
	fields := strings.Fields(scalar(list.Content[last.Index-1]))
	if len(fields) == 0 {
		return ""
	}
	if flag := fields[len(fields)-1]; strings.HasPrefix(flag, "-") && !strings.Contains(flag, "=") {
		return flag
	}
	return ""
}

// envName returns the name of the variable whose value is at path.
func (s *suspecter) envName(path Path, ctx context) string {
	entry := s.at(path[:len(path)-1], ctx)
	return scalar(lookup(entry, "name"))
}

// at returns the node at path, in the object of ctx.
func (s *suspecter) at(path Path, ctx context) *yaml.Node {
	n := ctx.node
	for _, e := range path[len(ctx.rootPath):] {
		n = deref(n)
		if n == nil {
			return nil
		}
		if e.Key == "" {
			if n.Kind != yaml.SequenceNode || e.Index >= len(n.Content) {
				return nil
			}
			n = n.Content[e.Index]
			continue
		}
		n = lookup(n, e.Key)
	}
	return deref(n)
}

// fieldPath writes the path rel, from the root of the object of ctx, in
// the grammar of spec.imageFields: an entry of a list by its name when it
// has one, every entry otherwise.
func (s *suspecter) fieldPath(rel Path, ctx context) (string, bool) {
	var b strings.Builder
	for i, e := range rel {
		if e.Key != "" {
			if strings.ContainsAny(e.Key, ".[]=*() \t\r\n") || e.Key == "metadata" {
				return "", false
			}
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.Key)
			continue
		}
		name := scalar(lookup(s.at(ctx.rootPath.join(rel[:i+1]), ctx), "name"))
		if name != "" && !strings.ContainsAny(name, "] \t\r\n") {
			b.WriteString("[name=" + name + "]")
		} else {
			b.WriteString("[]")
		}
	}
	return b.String(), true
}

// join returns p followed by q.
func (p Path) join(q Path) Path {
	return append(p[:len(p):len(p)], q...)
}
