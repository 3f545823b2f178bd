package manifest

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
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

// with and at extend a path in place where it has room, so that the walk
// down a document of any depth holds one path, not one per level: a path
// is valid until its prefix is extended again, and add keeps a copy.
func (p Path) with(key string) Path { return append(p, PathElem{Key: key}) }

func (p Path) at(i int) Path { return append(p, PathElem{Index: i}) }

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
	// List is the list of the entry that holds the image, and Name that
	// entry's name: "containers" and "app" for a container, "volumes" for
	// an image volume, "steps" for a Tekton step. Both are "" for a field
	// outside any list, such as a Tekton stepTemplate.image.
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
	// Prefix is written before the image in the value, and stays:
	// "docker://" in a CDI registry URL, "oci://" in a KServe storage URI,
	// "--executor-image=" in a container's argument. Suffix is written
	// after it, and stays too: the rest of an argument.
	Prefix, Suffix string
	// Keep says why the image must stay as written whatever the rules
	// say, or is nil: a *PullNeverError.
	Keep error
	// Found says how the walk knows that the field holds an image.
	Found Found
	// UsedBy lists the fields that name this one's value instead of an
	// image: the steps whose image is "$(params.X)", for the default of
	// a Tekton parameter X.
	UsedBy []Path
}

// Found says how the walk knows that a field holds an image.
type Found string

// The ways a field is found, as reports name them.
const (
	// FoundBuiltin: a pod spec's field, or a built-in field of a custom
	// resource (BuiltinFields), or a variable RELATED_IMAGE_*.
	FoundBuiltin Found = "builtin"
	// FoundDeclared: a field or value the rules declare, under
	// spec.imageFields or spec.imageValues.
	FoundDeclared Found = "declared"
	// FoundByName: an "image" or "imageName" key, or an image volume's
	// shape, found by its name where nothing declares it (see infer.go).
	FoundByName Found = "by-name"
)

// Value returns the image as written, between Prefix and Suffix, for a
// field whose value is a string.
func (f Field) Value() string {
	if f.NotString != nil {
		return ""
	}
	text := scalar(f.Node)
	return text[len(f.Prefix) : len(text)-len(f.Suffix)]
}

// Text returns the value of the field once its image is img.
func (f Field) Text(img string) string { return f.Prefix + img + f.Suffix }

// PullNeverError is the Keep of a field whose pull policy is Never. The
// kubelet then runs the image only if the node already holds it under the
// name written; a mirrored name would fail with ErrImageNeverPull. So the
// image is never rewritten, and never copied to the mirror.
type PullNeverError struct {
	// Policy is the key of the pull policy: "imagePullPolicy",
	// "pullPolicy" for an image volume, "packagePullPolicy" for a
	// Crossplane package.
	Policy string
}

func (e *PullNeverError) Error() string {
	return e.Policy + " is Never: the node must already hold the image under this name, so it is not mirrored"
}

// Short says the same in a few words, for a table.
func (e *PullNeverError) Short() string { return e.Policy + ": Never" }

// Decide returns the decision on f's image by decide, which is
// Engine.Decide or remembers its answers. A value that is not a string is
// Invalid; an image whose tag or digest is a placeholder is decided on the
// name before it, and the placeholder stays (Templated where a rule
// mirrors it); an image that must stay as written is Kept where a rule
// would mirror it. Every mode decides a field through Decide.
func (f Field) Decide(decide func(string) mirror.Decision) mirror.Decision {
	if f.NotString != nil {
		text := imageText(f.Node)
		return mirror.Decision{Image: text, Result: text, Action: mirror.Invalid, Err: f.NotString}
	}
	img := f.Value()
	name, tail, templated := splitPlaceholder(img)
	if !templated {
		name = img
	}
	d := decide(name)
	if templated && d.Action == mirror.Invalid {
		// The placeholder is not what makes it invalid: say what does.
		d = decide(img)
	} else if templated {
		d.Image, d.Result = img, d.Result+tail
		if d.Action == mirror.Mirrored {
			d.Action = mirror.Templated
		}
	}
	if f.Keep != nil && (d.Action == mirror.Mirrored || d.Action == mirror.Templated) {
		d.Result, d.Action, d.Err = d.Image, mirror.Kept, f.Keep
	}
	return d
}

// skipKinds only mention images, in schemas or opaque data.
var skipKinds = map[string]bool{
	"CustomResourceDefinition": true,
	"ConfigMap":                true,
	"Secret":                   true,
}

// Images returns the image fields of the object n that the built-in walk
// finds, in the order they are written. See [Walk.Images].
func Images(n *yaml.Node) ([]Field, error) {
	return builtinWalk.Images(n)
}

// Images returns the image fields of the object n, in the order they are
// written: those of every pod spec in it and the images its containers
// pass in variables and flags, the built-in fields of its kind, the fields
// the rules declare for its kind, and the fields found by name; a step's
// image that is a whole parameter is reported as the parameter's value.
// It fails on a mapping on the way to an image that holds a key twice
// (*DuplicateKeyError), and on aliases that expand without end.
func (wk *Walk) Images(n *yaml.Node) ([]Field, error) {
	w := &walker{walk: wk}
	w.object(n, nil, way{}, nil)
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
	walk   *Walk
	fields []Field
	err    error
	// aliasSteps counts the nodes visited through aliases; depth is how
	// deeply the walk is nested.
	aliasSteps, depth int
	// seen holds the paths of the fields found, once fields of a kind
	// are looked for: they may name a field that the search of pod specs
	// finds too.
	seen map[string]bool
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
		w.step(1)
	}
	return n, on
}

// step counts n nodes visited through aliases.
func (w *walker) step(n int) {
	if w.aliasSteps += n; w.aliasSteps > maxAliasSteps && w.err == nil {
		w.err = errAliasBomb
	}
}

// enter counts a level of nesting, until leave. An alias inside its own
// anchor nests without end, one level per few steps, which the step budget
// stops too late for the paths of every level to fit in memory: enter
// stops the walk at maxAliasDepth levels reached through an alias. A
// document without aliases is as deep as its parser allows.
func (w *walker) enter(on way) {
	if w.depth++; w.depth > maxAliasDepth && on.shared && w.err == nil {
		w.err = errAliasBomb
	}
}

func (w *walker) leave() { w.depth-- }

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

// object walks the object n: the items of a List, or the fields of its
// kind and its pod specs. outer is the object that embeds n, as a
// Tekton TriggerTemplate embeds TaskRuns, or nil for a document's root;
// fields are reported as the outer object's.
func (w *walker) object(n *yaml.Node, path Path, on way, outer *Object) {
	if n, on = w.at(n, on); n.Kind != yaml.MappingNode || w.err != nil {
		return
	}
	ps := w.pairs(n)
	kind := scalar(value(ps, "kind"))
	if items := deref(value(ps, "items")); strings.HasSuffix(kind, "List") && items != nil && items.Kind == yaml.SequenceNode {
		for i, item := range items.Content {
			w.object(item, path.with("items").at(i), on, outer)
		}
		return
	}
	apiVersion := scalar(value(ps, "apiVersion"))
	specs := w.walk.specsFor(apiVersion, kind)
	if skipKinds[kind] {
		// Only the fields the rules name in this very kind: the rest
		// only mentions images.
		specs = slices.DeleteFunc(specs, func(s *spec) bool { return s.kind != kind })
		if len(specs) == 0 {
			return
		}
	}
	obj := outer
	if obj == nil {
		meta := value(ps, "metadata")
		obj = &Object{Kind: kind, Namespace: scalar(lookup(meta, "namespace")), Name: scalar(lookup(meta, "name"))}
	}
	start := len(w.fields)
	if len(specs) > 0 {
		if w.seen == nil {
			w.seen = map[string]bool{}
		}
		for _, s := range specs {
			w.follow(n, path, s.path, s, Field{Object: *obj, Prefix: s.prefix, Found: s.found}, on)
		}
	}
	if skipKinds[kind] {
		return
	}
	w.search(ps, path, *obj, on, apiVersion != "" && kind != "" && w.walk.infers(apiVersion, kind))
	if params := paramLists[groupOf(apiVersion)]; params != "" {
		w.resolveParams(n, path, params, start, on)
	}
}

// groupOf returns the API group of apiVersion: "" for the core group.
func groupOf(apiVersion string) string {
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		return "" // the core group: "v1"
	}
	return group
}

// image adds the field key of a mapping of pairs ps, whose path is p,
// unless it is absent, null or empty. policy is the key of the image's
// pull policy in the same mapping.
func (w *walker) image(ps []pair, key, policy string, p Path, f Field, on way) {
	for _, e := range ps {
		if e.key.Value != key || isNull(e.value) {
			continue
		}
		switch own := scalar(value(ps, policy)); {
		case own == "Never":
			f.Keep = &PullNeverError{Policy: policy}
		case own != "":
			f.Keep = nil // its own policy overrides a template's
		}
		w.add(e.value, p.with(key), f, through(e, on))
	}
}

// add adds the field at path whose value is n, reached by on, unless the
// value is empty or, for a field with a Prefix or a Suffix, is not an
// image between them.
func (w *walker) add(n *yaml.Node, path Path, f Field, on way) {
	if f.Node, on = w.at(n, on); isNull(f.Node) || f.Node.Kind == yaml.ScalarNode && f.Node.Value == "" {
		return
	}
	if f.Prefix != "" || f.Suffix != "" {
		if text := scalar(f.Node); notString(f.Node) != nil || len(text) <= len(f.Prefix)+len(f.Suffix) ||
			!strings.HasPrefix(text, f.Prefix) || !strings.HasSuffix(text, f.Suffix) {
			return
		}
	}
	f.Path = slices.Clone(path)
	if w.seen != nil {
		key := path.String()
		if w.seen[key] {
			return
		}
		w.seen[key] = true
	}
	f.Shared, f.Site = on.shared, on.site
	if f.Site == nil {
		f.Site = f.Node
	}
	f.NotString = notString(f.Node)
	w.fields = append(w.fields, f)
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
