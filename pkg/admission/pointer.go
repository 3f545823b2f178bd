package admission

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/manifest"
)

// errRepeatedKey is a path through a mapping that holds its key twice. A
// JSON patch cannot say which of the two it means: decoders keep the last,
// the walk reads the first.
var errRepeatedKey = errors.New("the object repeats a key on the path to this field")

// pointer formats p, a path in the tree root, as a JSON pointer (RFC 6901).
// It reads the tree rather than trust p alone: a manifest.PathElem with an
// empty Key is a list index, and so is an empty mapping key, which JSON
// allows. Past the end of the tree, the elements are keys still to add.
// It also builds no strings.Replacer per element, as Path.Pointer does:
// the webhook formats several pointers per image.
func pointer(root *yaml.Node, p manifest.Path) (string, error) {
	s, _, err := pointerNode(root, p)
	return s, err
}

// pointerNode returns the pointer of pointer, and the node at p or nil.
func pointerNode(root *yaml.Node, p manifest.Path) (string, *yaml.Node, error) {
	var b strings.Builder
	n := root
	for _, e := range p {
		b.WriteByte('/')
		if n != nil && n.Kind == yaml.SequenceNode {
			b.WriteString(strconv.Itoa(e.Index))
			n = item(n, e.Index)
			continue
		}
		if strings.ContainsAny(e.Key, "~/") {
			b.WriteString(pointerEscaper.Replace(e.Key))
		} else {
			b.WriteString(e.Key)
		}
		if n == nil {
			continue
		}
		v, repeated := childOnce(n, e.Key)
		if repeated {
			return "", nil, errRepeatedKey
		}
		n = v
	}
	return b.String(), n, nil
}

// pointers formats the JSON pointers of the image fields of one object, in
// the order of the walk. It remembers the pointer and the node of the last
// list of a pod spec, so that the keys before a list are read once, not
// once for each of its images: the images of a list come one after the
// other.
type pointers struct {
	root *yaml.Node
	// list is the path of the last list; at, node and err what
	// pointerNode said of it.
	list manifest.Path
	at   string
	node *yaml.Node
	err  error
}

// of returns pointer(root, f.Path).
func (p *pointers) of(f manifest.Field) (string, error) {
	spec, ok := specPath(f)
	if !ok {
		return pointer(p.root, f.Path)
	}
	if list := f.Path[:len(spec)+1]; p.list == nil || !slices.Equal(list, p.list) {
		p.list = list
		p.at, p.node, p.err = pointerNode(p.root, list)
	}
	if p.err != nil {
		return "", p.err
	}
	rest, err := pointer(p.node, f.Path[len(p.list):])
	if err != nil {
		return "", err
	}
	return p.at + rest, nil
}

// childOnce returns the value of key in mapping n, or nil, and whether the
// key is there more than once.
func childOnce(n *yaml.Node, key string) (*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	var v *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			if v != nil {
				return nil, true
			}
			v = n.Content[i+1]
		}
	}
	return v, false
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// find returns the node at path below n, or nil, reading each element as
// pointer does.
func find(n *yaml.Node, path manifest.Path) *yaml.Node {
	for _, e := range path {
		switch {
		case n == nil:
			return nil
		case n.Kind == yaml.SequenceNode:
			n = item(n, e.Index)
		default:
			n = child(n, e.Key)
		}
	}
	return n
}

// item returns the i-th item of sequence n, or nil.
func item(n *yaml.Node, i int) *yaml.Node {
	if i < 0 || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// pathKey formats p as pointer does without a tree, for use as a map key:
// an element with an empty Key is written as its index.
func pathKey(p manifest.Path) string {
	var b strings.Builder
	for _, e := range p {
		b.WriteByte('/')
		if e.Key == "" {
			b.WriteString(strconv.Itoa(e.Index))
		} else {
			b.WriteString(pointerEscaper.Replace(e.Key))
		}
	}
	return b.String()
}
