package manifest

import (
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/fieldpath"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Walk finds the image fields of objects: those of pod specs, wherever
// they are, the built-in fields of the custom resources that hold images
// elsewhere (BuiltinFields), and the fields a MirrorRules file declares.
// A Walk is safe for concurrent use.
type Walk struct {
	// byKind holds the fields of each kind; anyKind those declared for
	// every kind.
	byKind  map[string][]*spec
	anyKind []*spec
}

// spec is an image field, compiled.
type spec struct {
	group, kind string
	path        fieldpath.Path
	prefix      string
	policy      string
}

// builtinWalk reads the built-in fields only.
var builtinWalk = func() *Walk {
	wk := &Walk{byKind: map[string][]*spec{}}
	for _, f := range BuiltinFields() {
		wk.add(f)
	}
	return wk
}()

// WalkOf returns the walk for the rules of eng: the built-in fields, and
// the fields its rules declare, whose paths mirror.New has checked.
func WalkOf(eng *mirror.Engine) *Walk {
	declared := eng.Rules().ImageFields
	if len(declared) == 0 {
		return builtinWalk
	}
	return builtinWalk.with(declared)
}

// with returns a walk of the fields of wk and those declared, compiling
// only the declared ones.
func (wk *Walk) with(declared []mirror.ImageField) *Walk {
	// Clipped, the lists of wk are copied, not written into, when a
	// declared field is appended.
	out := &Walk{byKind: make(map[string][]*spec, len(wk.byKind)), anyKind: slices.Clip(wk.anyKind)}
	for kind, specs := range wk.byKind {
		out.byKind[kind] = slices.Clip(specs)
	}
	for _, f := range declared {
		out.add(FieldSpec{ImageField: f})
	}
	return out
}

// add compiles the field f into the walk.
func (wk *Walk) add(f FieldSpec) {
	s := &spec{group: f.Group, kind: f.Kind, path: fieldpath.MustParse(f.Path), prefix: f.Prefix, policy: f.Policy}
	if s.policy == "" {
		s.policy = "imagePullPolicy"
	}
	if s.kind == "" {
		wk.anyKind = append(wk.anyKind, s)
		return
	}
	wk.byKind[s.kind] = append(wk.byKind[s.kind], s)
}

// specsFor returns the fields of objects of apiVersion and kind.
func (wk *Walk) specsFor(apiVersion, kind string) []*spec {
	candidates := wk.byKind[kind]
	if len(candidates) == 0 && len(wk.anyKind) == 0 {
		return nil
	}
	group, _, found := strings.Cut(apiVersion, "/")
	if !found {
		group = "" // the core group: "v1"
	}
	var out []*spec
	for _, list := range [][]*spec{candidates, wk.anyKind} {
		for _, s := range list {
			if s.group == "" || s.group == group {
				out = append(out, s)
			}
		}
	}
	return out
}

// follow adds the fields that the steps lead to from n, which is at path
// and reached by on. f carries what is known of the field so far.
func (w *walker) follow(n *yaml.Node, path Path, steps fieldpath.Path, s *spec, f Field, on way) {
	n, on = w.at(n, on)
	w.enter(on)
	defer w.leave()
	if w.err != nil {
		return
	}
	step, rest := steps[0], steps[1:]
	switch step.Op {
	case fieldpath.Key, fieldpath.AnyKey:
		if n.Kind != yaml.MappingNode {
			return
		}
		ps := w.pairs(n)
		if step.Op == fieldpath.Key && len(rest) == 0 {
			w.image(ps, step.Key, s.policy, path, f, on)
			return
		}
		for _, p := range ps {
			k := p.key.Value
			if step.Op == fieldpath.Key && k != step.Key || step.Op == fieldpath.AnyKey && k == "metadata" {
				continue
			}
			g := f
			if tmpl := inheritedPolicy[s.group][k]; tmpl != "" && scalar(lookup(value(ps, tmpl), s.policy)) == "Never" {
				g.Keep = &PullNeverError{Policy: tmpl + "." + s.policy}
			}
			w.next(p.value, path.with(k), rest, s, g, through(p, on))
		}
	case fieldpath.Each, fieldpath.Where:
		if n.Kind != yaml.SequenceNode {
			return
		}
		f.List = lastKey(path)
		for i, item := range n.Content {
			entry := deref(item)
			if entry.Kind == yaml.MappingNode {
				f.Name = scalar(lookup(entry, "name"))
			} else {
				f.Name = ""
			}
			if step.Op == fieldpath.Where && scalar(lookup(entry, step.Key)) != step.Value {
				continue
			}
			w.next(item, path.at(i), rest, s, f, on)
		}
	}
}

// next follows the steps rest from n, or adds n as the image when there
// are none left.
func (w *walker) next(n *yaml.Node, path Path, rest fieldpath.Path, s *spec, f Field, on way) {
	if len(rest) == 0 {
		w.add(n, path, f, on)
		return
	}
	w.follow(n, path, rest, s, f, on)
}

// lastKey returns the last key of p, or "".
func lastKey(p Path) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i].Key != "" {
			return p[i].Key
		}
	}
	return ""
}
