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
	// Path leads from the document root to the image, in the document as
	// decoded, with aliases and merge keys expanded.
	Path Path
	// List is "containers", "initContainers", "ephemeralContainers" or
	// "volumes"; Name is the container's or volume's name in it.
	List, Name string
	// Node is the image's value as parsed: a scalar, or for a field whose
	// value is not a string, whatever it is. An alias is resolved: Node is
	// the node anchored, which other fields may share.
	Node *yaml.Node
	// Shared: the path to Node passes an alias, a merge key or an anchor,
	// so that Node may also be the value of other fields.
	Shared bool
	// Site is where the field is written: Node itself, or the alias or
	// merge key that brings Node to the field. Fields are in the order of
	// their sites.
	Site *yaml.Node
	// NotString says why Node is not an image, or is nil: the value is a
	// number, a boolean, a mapping or a list.
	NotString error
}

// Value returns the image as written, for a field whose value is a string.
func (f Field) Value() string {
	if f.NotString != nil {
		return ""
	}
	return f.Node.Value
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
// written. It fails on a mapping on the way to an image that holds a key
// twice (*DuplicateKeyError), and on aliases that expand without end.
func Images(n *yaml.Node) ([]Field, error) {
	w := &walker{}
	w.object(n, nil, way{})
	if w.err != nil {
		return nil, w.err
	}
	slices.SortStableFunc(w.fields, func(a, b Field) int {
		return cmp.Or(a.Site.Line-b.Site.Line, a.Site.Column-b.Site.Column)
	})
	return w.fields, nil
}

// walker finds the image fields of a document. It keeps the first error.
type walker struct {
	fields []Field
	err    error
	// aliasSteps counts the nodes visited through aliases.
	aliasSteps int
}

// way says how the walk reached a node.
type way struct {
	// shared: the way passes an alias, a merge key or an anchor.
	shared bool
	// site is the last alias or merge key on the way, or nil.
	site *yaml.Node
}

// at returns the node n stands for, and the way to it. It counts the steps
// taken through aliases.
func (w *walker) at(n *yaml.Node, on way) (*yaml.Node, way) {
	if n.Kind == yaml.AliasNode {
		on = way{shared: true, site: n}
		n = deref(n)
	}
	if n.Anchor != "" {
		on.shared = true
	}
	if on.shared {
		if w.aliasSteps++; w.aliasSteps > maxAliasSteps && w.err == nil {
			w.err = errAliasBomb
		}
	}
	return n, on
}

// through returns the way to the value of pair p of a mapping reached by
// on.
func through(p pair, on way) way {
	if p.via != nil {
		return way{shared: true, site: p.via}
	}
	return on
}

// pairs returns the pairs of mapping n, keeping the first error.
func (w *walker) pairs(n *yaml.Node) []pair {
	ps, err := pairs(n)
	if err != nil && w.err == nil {
		w.err = err
	}
	return ps
}

func (w *walker) object(n *yaml.Node, path Path, on way) {
	if n, on = w.at(n, on); n.Kind != yaml.MappingNode || w.err != nil {
		return
	}
	ps := w.pairs(n)
	kind := scalar(lookup(n, "kind"))
	if items := deref(lookup(n, "items")); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		for i, item := range items.Content {
			w.object(item, path.with("items").at(i), on)
		}
		return
	}
	if skipKinds[kind] {
		return
	}
	meta := lookup(n, "metadata")
	obj := Object{Kind: kind, Namespace: scalar(lookup(meta, "namespace")), Name: scalar(lookup(meta, "name"))}
	w.search(ps, path, obj, on)
}

// search looks for pod specs below the mapping of pairs ps, outside
// metadata.
func (w *walker) search(ps []pair, path Path, obj Object, on way) {
	for _, p := range ps {
		if p.key.Value != "metadata" {
			w.searchNode(p.value, path.with(p.key.Value), obj, through(p, on))
		}
	}
}

func (w *walker) searchNode(n *yaml.Node, path Path, obj Object, on way) {
	if n, on = w.at(n, on); w.err != nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		ps := w.pairs(n)
		if isPodSpec(n) {
			w.podSpec(ps, path, obj, on)
			return
		}
		w.search(ps, path, obj, on)
	case yaml.SequenceNode:
		for i, item := range n.Content {
			w.searchNode(item, path.at(i), obj, on)
		}
	}
}

// isPodSpec tells a pod spec from, say, a schema that describes one: its
// containers are a list of mappings.
func isPodSpec(n *yaml.Node) bool {
	c := deref(lookup(n, "containers"))
	if c == nil || c.Kind != yaml.SequenceNode {
		return false
	}
	for _, item := range c.Content {
		if deref(item).Kind != yaml.MappingNode {
			return false
		}
	}
	return true
}

func (w *walker) podSpec(spec []pair, path Path, obj Object, on way) {
	for _, list := range containerLists {
		w.eachEntry(spec, path, list, on, func(entry []pair, p Path, on way) {
			w.image(entry, "image", p, Field{Object: obj, List: list, Name: scalar(value(entry, "name"))}, on)
		})
	}
	w.eachEntry(spec, path, "volumes", on, func(entry []pair, p Path, on way) {
		for _, e := range entry {
			if e.key.Value != "image" || isNull(e.value) {
				continue
			}
			if ref, on := w.at(e.value, through(e, on)); ref.Kind == yaml.MappingNode {
				w.image(w.pairs(ref), "reference", p.with("image"), Field{Object: obj, List: "volumes", Name: scalar(value(entry, "name"))}, on)
			}
		}
	})
}

// eachEntry calls fn with the pairs of each mapping in the list that is
// the value of key in spec.
func (w *walker) eachEntry(spec []pair, path Path, key string, on way, fn func([]pair, Path, way)) {
	for _, p := range spec {
		if p.key.Value != key {
			continue
		}
		list, on := w.at(p.value, through(p, on))
		if list.Kind != yaml.SequenceNode {
			return
		}
		for i, entry := range list.Content {
			if entry, on := w.at(entry, on); entry.Kind == yaml.MappingNode {
				fn(w.pairs(entry), path.with(key).at(i), on)
			}
		}
	}
}

// image adds the field key of a mapping of pairs ps, whose path is p,
// unless it is absent, null or empty.
func (w *walker) image(ps []pair, key string, p Path, f Field, on way) {
	for _, e := range ps {
		if e.key.Value != key || isNull(e.value) {
			continue
		}
		on = through(e, on)
		if f.Node, on = w.at(e.value, on); f.Node.Kind == yaml.ScalarNode && f.Node.Value == "" {
			return
		}
		f.Shared, f.Site = on.shared, on.site
		if f.Site == nil {
			f.Site = f.Node
		}
		f.Path = p.with(key)
		f.NotString = notString(f.Node)
		w.fields = append(w.fields, f)
	}
}

// value returns the value of key among the pairs ps, or nil.
func value(ps []pair, key string) *yaml.Node {
	for _, p := range ps {
		if p.key.Value == key {
			return p.value
		}
	}
	return nil
}
