package manifest

import (
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/fieldpath"
	"kmirror.dev/kmirror/pkg/mirror"
)

// Walk finds the image fields of objects: those of pod specs, wherever
// they are, the built-in fields of the custom resources that hold images
// elsewhere (BuiltinFields), the fields and values a MirrorRules file
// declares, and the fields found by name (see infer.go). A Walk is safe
// for concurrent use.
type Walk struct {
	// byKind holds the fields of each kind; anyKind those declared for
	// every kind.
	byKind  map[string][]*spec
	anyKind []*spec
	// noInfer names the kinds in which no field is found by name: the
	// built-in exclusions, and those the rules declare. infer is false
	// when one of them names every kind.
	noInfer []mirror.ImageField
	infer   bool
	// envs and args are the variable patterns and flags of containers
	// that the rules declare to hold images.
	envs, args []string
}

// spec is an image field, compiled.
type spec struct {
	group, kind string
	path        fieldpath.Path
	prefix      string
	policy      string
	found       Found
}

// builtinWalk reads the built-in fields, and finds fields by name.
var builtinWalk = func() *Walk {
	wk := &Walk{byKind: map[string][]*spec{}, noInfer: builtinExclusions(), infer: true}
	for _, f := range BuiltinFields() {
		wk.add(f, FoundBuiltin)
	}
	return wk
}()

// WalkOf returns the walk for the rules of eng: the built-in fields, the
// fields and values its rules declare, whose paths mirror.New has
// checked, and the fields found by name outside the kinds its rules
// exclude.
func WalkOf(eng *mirror.Engine) *Walk {
	r := eng.Rules()
	if len(r.ImageFields) == 0 && len(r.ImageValues) == 0 {
		return builtinWalk
	}
	return builtinWalk.with(r.ImageFields, r.ImageValues)
}

// with returns a walk of the fields of wk and those declared, compiling
// only the declared ones.
func (wk *Walk) with(declared []mirror.ImageField, values []mirror.ImageValue) *Walk {
	// Clipped, the lists of wk are copied, not written into, when a
	// declared field is appended.
	out := &Walk{byKind: make(map[string][]*spec, len(wk.byKind)), anyKind: slices.Clip(wk.anyKind),
		noInfer: slices.Clip(wk.noInfer), infer: wk.infer, envs: slices.Clip(wk.envs), args: slices.Clip(wk.args)}
	for kind, specs := range wk.byKind {
		out.byKind[kind] = slices.Clip(specs)
	}
	for _, f := range declared {
		switch {
		case !f.Exclude:
			out.add(FieldSpec{ImageField: f}, FoundDeclared)
		case f.Group == "" && f.Kind == "":
			out.infer = false
		default:
			out.noInfer = append(out.noInfer, f)
		}
	}
	for _, v := range values {
		if v.Env != "" {
			out.envs = append(out.envs, v.Env)
		} else {
			out.args = append(out.args, v.Arg)
		}
	}
	return out
}

// add compiles the field f, found as found, into the walk.
func (wk *Walk) add(f FieldSpec, found Found) {
	s := &spec{group: f.Group, kind: f.Kind, path: fieldpath.MustParse(f.Path), prefix: f.Prefix, policy: f.Policy, found: found}
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
	group := groupOf(apiVersion)
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
	case fieldpath.Repeat:
		// The group none of the times, then once more and the group again;
		// each time goes at least one level deeper, so the document's
		// depth ends it.
		w.follow(n, path, rest, s, f, on)
		w.follow(n, path, append(slices.Clip(step.Sub), steps...), s, f, on)
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
