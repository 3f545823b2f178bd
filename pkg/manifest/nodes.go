package manifest

import (
	"errors"
	"fmt"
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

// pairs returns the pairs of mapping n with merge keys expanded: its own
// pairs, then those of the mappings it merges that no earlier pair has, as
// the YAML merge key type defines. It returns a *DuplicateKeyError when n
// itself holds a key twice.
func pairs(n *yaml.Node) ([]pair, error) {
	return mergedPairs(n, 0)
}

// maxMergeDepth bounds mappings merged into mappings merged into ...; a
// mapping that merges itself would be endless.
const maxMergeDepth = 64

func mergedPairs(n *yaml.Node, depth int) ([]pair, error) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	if depth > maxMergeDepth {
		return nil, errAliasBomb
	}
	out := make([]pair, 0, len(n.Content)/2)
	keys := newKeySet(len(n.Content) / 2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			merges = append(merges, v)
			continue
		}
		if first := keys.add(k); first != nil {
			return nil, &DuplicateKeyError{Key: k.Value,
				First: first.Line, Second: k.Line, FirstColumn: first.Column, SecondColumn: k.Column}
		}
		out = append(out, pair{key: k, value: v})
	}
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if deref(m).Kind == yaml.SequenceNode {
			sources = deref(m).Content
		}
		for _, src := range sources {
			inherited, err := mergedPairs(src, depth+1)
			if err != nil {
				return nil, err
			}
			for _, p := range inherited {
				if keys.add(p.key) == nil {
					p.via = src
					out = append(out, p)
				}
			}
		}
	}
	return out, nil
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

// add adds key k and returns the key added before with the same value, or
// nil. Keys that are not scalars are never equal here.
func (s *keySet) add(k *yaml.Node) *yaml.Node {
	k = deref(k)
	if k.Kind != yaml.ScalarNode {
		return nil
	}
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
	merged := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if isMerge(k) {
			merged = true
		} else if k.Value == key {
			return n.Content[i+1]
		}
	}
	if !merged {
		return nil
	}
	ps, _ := pairs(n)
	return value(ps, key)
}

// scalar returns the value of the scalar n, or "".
func scalar(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// isNull reports whether n is absent, null or empty.
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Tag == "" && n.Value == "")
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
		if n.Tag == "!!str" || n.Tag == "" {
			return nil
		}
		what := map[string]string{"!!int": "a number", "!!float": "a number", "!!bool": "a boolean",
			"!!timestamp": "a date", "!!binary": "binary data"}[n.Tag]
		if what == "" {
			what = "tagged " + n.Tag
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
