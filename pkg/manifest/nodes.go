package manifest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// A YAML document is a tree only until it uses anchors: an alias ("*a")
// stands for the node anchored "&a", and a merge key ("<<: *a") lends a
// mapping the keys of another. The walk reads a document as Kubernetes
// does after decoding it, with every alias and merge expanded. The helpers
// here give that view of the parsed tree without copying it.

// maxAliasSteps bounds the nodes the walk visits through aliases in one
// document. A few lines of aliases of aliases expand to billions of nodes
// ("billion laughs"), and an alias inside its own anchor to an endless
// tree; no real manifest comes near the bound.
const maxAliasSteps = 1 << 20

// maxAliasDepth bounds the nesting that the walk follows through aliases.
const maxAliasDepth = 1000

// errAliasBomb is returned for a document whose aliases expand beyond
// maxAliasSteps.
var errAliasBomb = fmt.Errorf("its YAML aliases expand to more than %d nodes", maxAliasSteps)

// DuplicateKeyError is a mapping that holds a key twice. Decoders differ
// on which value counts (kubectl and encoding/json take the last, a walk
// that stops at the first takes the first), so kmirror cannot know which
// image the cluster would pull, and refuses the object, as kubectl's
// strict field validation does.
type DuplicateKeyError struct {
	Key string
	// First and Second are the lines of the two keys, counted in the
	// document's stream; FirstColumn and SecondColumn their columns.
	First, Second             int
	FirstColumn, SecondColumn int
}

func (e *DuplicateKeyError) Error() string {
	at := fmt.Sprintf("at lines %d and %d", e.First, e.Second)
	if e.First == e.Second { // minified JSON, flow YAML
		at = fmt.Sprintf("at line %d, columns %d and %d", e.First, e.FirstColumn, e.SecondColumn)
	}
	return fmt.Sprintf("key %q appears twice, %s; kubectl would take the second, so kmirror refuses to guess", e.Key, at)
}

// deref returns the node an alias stands for, or n itself.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isMerge reports whether key is the merge key "<<".
func isMerge(key *yaml.Node) bool {
	return key.Kind == yaml.ScalarNode && key.Tag == "!!merge"
}

// pair is one key and value of a mapping, as the expanded document has it.
type pair struct {
	key, value *yaml.Node
	// via is the value of the merge key ("*a" in "<<: *a") that lent the
	// pair, or nil for a pair of the mapping itself.
	via *yaml.Node
}

// pairs returns the pairs of mapping n with merge keys expanded, and each
// key as kubectl reads it (see read.go). Merge keys are expanded as
// kubectl's go-yaml v2 does, which is not quite what the YAML merge key
// type says: the pairs of the mapping and of the mappings it merges are
// set in the order written, a later one replacing an earlier one of the
// same key, so a merge written after a key replaces it; of the mappings
// in a list ("<<: [*a, *b]") the first wins. It returns a
// *DuplicateKeyError when n itself holds a key twice, and fails where
// kubectl's decoder fails: a key it cannot read, a merge of something
// other than mappings.
func pairs(n *yaml.Node) ([]pair, error) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	own, merges, err := ownPairs(n)
	if err != nil || !merges {
		return own, err
	}
	m := &merger{done: map[*yaml.Node]bool{}, open: map[*yaml.Node]bool{}, set: &keySet{m: map[string]*yaml.Node{}}}
	if err := m.expand(n, nil, 0); err != nil {
		return nil, err
	}
	slices.Reverse(m.out)
	return m.out, nil
}

// maxMergeDepth bounds mappings merged into mappings merged into ....
const maxMergeDepth = 64

// ownPairs returns the pairs of mapping n itself, keys read as kubectl
// reads them, and whether n has merge keys.
func ownPairs(n *yaml.Node) ([]pair, bool, error) {
	out := make([]pair, 0, len(n.Content)/2)
	keys := newKeySet(len(n.Content) / 2)
	merges := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merges = true
			continue
		}
		k, err := readKey(k)
		if err != nil {
			return nil, false, err
		}
		if first := keys.add(k); first != nil {
			return nil, false, &DuplicateKeyError{Key: k.Value,
				First: first.Line, Second: k.Line, FirstColumn: first.Column, SecondColumn: k.Column}
		}
		out = append(out, pair{key: k, value: v})
	}
	return out, merges, nil
}

// readKey returns the key k as kubectl reads it: k itself when it reads
// as written, else a copy with the string kubectl makes of it.
func readKey(k *yaml.Node) (*yaml.Node, error) {
	if k.Kind == yaml.ScalarNode && k.Style == 0 && resolveHint(k.Value) == 0 {
		return k, nil // a plain key that can be nothing but the string (the usual case)
	}
	text, err := keyText(k)
	if err != nil {
		return nil, err
	}
	if k.Kind == yaml.ScalarNode && text == k.Value {
		return k, nil
	}
	read := *k
	read.Kind, read.Tag, read.Style, read.Value, read.Alias, read.Anchor = yaml.ScalarNode, "!!str", 0, text, nil, ""
	return &read, nil
}

// merger expands the merge keys of a mapping. It goes through what go-yaml
// v2 sets in reverse, keeping the first pair of each key: that is the last
// set, the one that stays. A mapping merged again is then skipped, as its
// keys are all set already, so a document of merges of merges ("<<: [*a,
// *a]" nested) takes steps in proportion to its size, within a budget.
type merger struct {
	out []pair
	set *keySet
	// done holds the mappings expanded; open those being expanded.
	done, open map[*yaml.Node]bool
	steps      int
}

// expand adds the pairs of mapping n, in reverse, each brought by via (the
// value of a merge key), or by n itself when via is nil.
func (m *merger) expand(n *yaml.Node, via *yaml.Node, depth int) error {
	switch {
	case m.done[n]:
		return nil
	case m.open[n]:
		return unreadable(n, "a merge key (<<) brings a mapping into itself")
	case depth > maxMergeDepth:
		return errAliasBomb
	}
	m.open[n] = true
	for i := len(n.Content) - 2; i >= 0; i -= 2 {
		if m.steps++; m.steps > maxAliasSteps {
			return errAliasBomb
		}
		k, v := n.Content[i], n.Content[i+1]
		if !isMerge(k) {
			k, err := readKey(k)
			if err != nil {
				return err
			}
			if m.set.add(k) == nil {
				m.out = append(m.out, pair{key: k, value: v, via: via})
			}
			continue
		}
		sources, err := mergeSources(v)
		if err != nil {
			return err
		}
		for _, src := range sources {
			through := via
			if through == nil {
				through = src
			}
			if err := m.expand(deref(src), through, depth+1); err != nil {
				return err
			}
		}
	}
	delete(m.open, n)
	m.done[n] = true
	return nil
}

// mergeSources returns the mappings that the value of a merge key merges,
// the one that wins first, or fails as go-yaml v2 does for anything but a
// mapping or a list of mappings.
func mergeSources(v *yaml.Node) ([]*yaml.Node, error) {
	isMapping := func(n *yaml.Node) bool { return deref(n).Kind == yaml.MappingNode }
	switch {
	case isMapping(v):
		return []*yaml.Node{v}, nil
	case v.Kind == yaml.SequenceNode && !slices.ContainsFunc(v.Content, func(n *yaml.Node) bool { return !isMapping(n) }):
		return v.Content, nil
	}
	return nil, unreadable(v, "a merge key (<<) needs a mapping or a list of mappings")
}

// keySet finds repeated scalar keys: by a scan of the few keys of a usual
// mapping, by a map for a large one.
type keySet struct {
	list []*yaml.Node
	m    map[string]*yaml.Node
}

func newKeySet(n int) *keySet {
	if n > 16 {
		return &keySet{m: make(map[string]*yaml.Node, n)}
	}
	return &keySet{}
}

// add adds key k, read as kubectl reads it, and returns the key added
// before with the same value, or nil.
func (s *keySet) add(k *yaml.Node) *yaml.Node {
	if s.m != nil {
		if first, ok := s.m[k.Value]; ok {
			return first
		}
		s.m[k.Value] = k
		return nil
	}
	for _, first := range s.list {
		if first.Value == k.Value {
			return first
		}
	}
	s.list = append(s.list, k)
	return nil
}

// lookup returns the value of key in mapping n, following aliases and
// merge keys, or nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if isMerge(n.Content[i]) {
			ps, _ := pairs(n)
			return value(ps, key)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, err := readKey(n.Content[i]); err == nil && k.Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalar returns the string that n reads as, to kubectl, or "".
func scalar(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return readText(n)
}

// isNull reports whether n is absent, or null to kubectl.
func isNull(n *yaml.Node) bool {
	if n == nil {
		return true
	}
	r, err := read(n)
	return err == nil && r.kind == nullValue
}

// errNotString is wrapped by the reason given for an image field whose
// value is not a string.
var errNotString = errors.New("not a string")

// notString says why the value n of an image field is not an image, or
// returns nil for a string. A number or a boolean would reach the API
// server as JSON of that type, which it refuses for an image; a mapping is
// most often an unquoted template such as {{ .Values.image }}.
func notString(n *yaml.Node) error {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		r, err := read(n)
		if err != nil {
			return err
		}
		what := map[valueKind]string{nullValue: "null", boolValue: "a boolean", numberValue: "a number"}[r.kind]
		if what == "" {
			return nil
		}
		return fmt.Errorf("image %s is %s, %w; quote it", clip(n.Value), what, errNotString)
	case yaml.MappingNode:
		return fmt.Errorf("image is a mapping, %w (an unquoted {{ }} template?)", errNotString)
	case yaml.SequenceNode:
		return fmt.Errorf("image is a list, %w", errNotString)
	}
	return fmt.Errorf("image is %w", errNotString)
}

// clip shortens s for a message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
