package manifest

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Object identifies the Kubernetes object an image field belongs to.
type Object struct {
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

func (o Object) String() string {
	name := o.Name
	if o.Namespace != "" {
		name = o.Namespace + "/" + name
	}
	return strings.TrimSpace(o.Kind + " " + name)
}

// Path is the location of a field inside its document, as keys and list
// indexes.
type Path []PathElem

// PathElem is one step of a Path: a mapping key, or a list index when Key
// is "".
type PathElem struct {
	Key   string
	Index int
}

func (p Path) with(key string) Path {
	return append(p[:len(p):len(p)], PathElem{Key: key})
}

func (p Path) at(i int) Path {
	return append(p[:len(p):len(p)], PathElem{Index: i})
}

// String formats p as "spec.containers[0].image".
func (p Path) String() string {
	var b strings.Builder
	for _, e := range p {
		if e.Key == "" {
			b.WriteString("[" + strconv.Itoa(e.Index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.Key)
	}
	return b.String()
}

// pointerEscaper escapes a key for a JSON pointer.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// Pointer formats p as a JSON pointer (RFC 6901), "/spec/containers/0/image".
func (p Path) Pointer() string {
	var b strings.Builder
	for _, e := range p {
		b.WriteByte('/')
		if e.Key == "" {
			b.WriteString(strconv.Itoa(e.Index))
			continue
		}
		b.WriteString(pointerEscaper.Replace(e.Key))
	}
	return b.String()
}

// Field is one image field of an object.
type Field struct {
	Object Object
	// Path leads from the document root to the image scalar.
	Path Path
	// List is "containers", "initContainers", "ephemeralContainers" or
	// "volumes"; Name is the container's or volume's name in it.
	List, Name string
	// Node is the image's scalar, or an alias of one.
	Node *yaml.Node
}

// containerLists are the lists of a pod spec whose entries have an image.
var containerLists = []string{"containers", "initContainers", "ephemeralContainers"}

// skipKinds only mention images, in schemas or opaque data.
var skipKinds = map[string]bool{
	"CustomResourceDefinition": true,
	"ConfigMap":                true,
	"Secret":                   true,
}

// Images returns the image fields of the object n, in the order they are
// written.
func Images(n *yaml.Node) []Field {
	var fields []Field
	walkObject(n, nil, func(f Field) { fields = append(fields, f) })
	slices.SortStableFunc(fields, func(a, b Field) int {
		return cmp.Or(a.Node.Line-b.Node.Line, a.Node.Column-b.Node.Column)
	})
	return fields
}

func walkObject(n *yaml.Node, path Path, visit func(Field)) {
	if n.Kind != yaml.MappingNode {
		return
	}
	kind := scalar(lookup(n, "kind"))
	if items := lookup(n, "items"); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		for i, item := range items.Content {
			walkObject(item, path.with("items").at(i), visit)
		}
		return
	}
	if skipKinds[kind] {
		return
	}
	meta := lookup(n, "metadata")
	obj := Object{Kind: kind, Namespace: scalar(lookup(meta, "namespace")), Name: scalar(lookup(meta, "name"))}
	search(n, path, obj, visit)
}

// search looks for pod specs below n, outside metadata.
func search(n *yaml.Node, path Path, obj Object, visit func(Field)) {
	switch n.Kind {
	case yaml.MappingNode:
		if isPodSpec(n) {
			visitPodSpec(n, path, obj, visit)
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if key := n.Content[i].Value; key != "metadata" {
				search(n.Content[i+1], path.with(key), obj, visit)
			}
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			search(item, path.at(i), obj, visit)
		}
	}
}

// isPodSpec tells a pod spec from, say, a schema that describes one: its
// containers are a list of mappings.
func isPodSpec(n *yaml.Node) bool {
	c := lookup(n, "containers")
	if c == nil || c.Kind != yaml.SequenceNode {
		return false
	}
	for _, item := range c.Content {
		if item.Kind != yaml.MappingNode {
			return false
		}
	}
	return true
}

func visitPodSpec(spec *yaml.Node, path Path, obj Object, visit func(Field)) {
	for _, list := range containerLists {
		eachEntry(spec, path, list, func(entry *yaml.Node, p Path) {
			if img := lookup(entry, "image"); isImage(img) {
				visit(Field{Object: obj, Path: p.with("image"), List: list, Name: scalar(lookup(entry, "name")), Node: img})
			}
		})
	}
	eachEntry(spec, path, "volumes", func(entry *yaml.Node, p Path) {
		if img := lookup(lookup(entry, "image"), "reference"); isImage(img) {
			visit(Field{Object: obj, Path: p.with("image").with("reference"), List: "volumes", Name: scalar(lookup(entry, "name")), Node: img})
		}
	})
}

// eachEntry calls fn for each mapping in the list spec[key].
func eachEntry(spec *yaml.Node, path Path, key string, fn func(*yaml.Node, Path)) {
	list := lookup(spec, key)
	if list == nil || list.Kind != yaml.SequenceNode {
		return
	}
	for i, entry := range list.Content {
		if entry.Kind == yaml.MappingNode {
			fn(entry, path.with(key).at(i))
		}
	}
}

// isImage accepts a non-empty scalar, or an alias of one.
func isImage(n *yaml.Node) bool {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" && n.Value != ""
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
