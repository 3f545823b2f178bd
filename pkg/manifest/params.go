package manifest

import (
	"regexp"
	"slices"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Parameters. A Tekton step may name its image by a parameter,
// "$(params.builder)", whose default the Task or Pipeline gives:
//
//	params:
//	- name: builder
//	  default: gcr.io/kaniko-project/executor:v1.23.2
//	steps:
//	- image: $(params.builder)
//
// The default is then the image: the walk reports it as the image field,
// with the fields that use it (Field.UsedBy), and the rules rewrite it.
// The parameter is looked for in the "params" of the mappings on the way
// from the object's root to the field, as a Task, a Pipeline, a pipeline
// task, a TaskRun or a PipelineRun declare and pass them; Shipwright's
// build strategies declare theirs under "parameters". It counts only when
// exactly one of them gives a value (a "default", or the "value" a run
// passes), and that value is a string: with two, a run's value may
// override a default, and kmirror cannot know which image is pulled. A
// parameter that nothing gives stays a warning, as any other placeholder
// that makes a whole image.

// paramLists names, for the groups whose objects take parameters, the key
// of their lists of parameters.
var paramLists = map[string]string{"tekton.dev": "params", "shipwright.io": "parameters"}

// paramRef matches an image that is a whole parameter, in the forms
// Tekton accepts: $(params.x), $(params["x"]), $(params['x']).
var paramRef = regexp.MustCompile(`^\$\(params(?:\.([A-Za-z0-9_-]+)|\["([^"]+)"\]|\['([^']+)'\])\)$`)

// paramName returns the parameter that the image img is, or "".
func paramName(img string) string {
	m := paramRef.FindStringSubmatch(img)
	if m == nil {
		return ""
	}
	return m[1] + m[2] + m[3]
}

// binding is a value given to a parameter, where the walk found it.
type binding struct {
	node *yaml.Node
	path Path
	on   way
}

// resolveParams replaces each field found from index start on whose image
// is a whole parameter, in the object root at path, by the field of the
// value that the object gives the parameter, in its lists of parameters
// under the key list, when it gives exactly one.
func (w *walker) resolveParams(root *yaml.Node, path Path, list string, start int, on way) {
	byNode := map[*yaml.Node]int{}
	drop := map[int]bool{}
	for i := start; i < len(w.fields) && w.err == nil; i++ {
		f := w.fields[i]
		x := ""
		if f.NotString == nil && f.Prefix == "" && f.Suffix == "" && f.UsedBy == nil {
			x = paramName(scalar(f.Node))
		}
		if x == "" {
			continue
		}
		b, ok := w.binding(root, path, f.Path, list, x, on)
		if !ok {
			continue
		}
		if j, seen := byNode[b.node]; seen {
			w.fields[j].UsedBy = append(w.fields[j].UsedBy, f.Path)
			if f.Keep != nil {
				w.fields[j].Keep = f.Keep
			}
			drop[i] = true
			continue
		}
		n := len(w.fields)
		w.add(b.node, b.path, Field{Object: f.Object, List: list, Name: x, Keep: f.Keep, Found: f.Found}, b.on)
		if len(w.fields) == n {
			continue
		}
		w.fields[n].UsedBy = []Path{f.Path}
		byNode[b.node] = n
		drop[i] = true
	}
	if len(drop) == 0 {
		return
	}
	kept := w.fields[:start]
	for i := start; i < len(w.fields); i++ {
		if !drop[i] {
			kept = append(kept, w.fields[i])
		}
	}
	w.fields = kept
}

// binding returns the one value given to the parameter x on the way from
// the object root, at path, to the field at target; ok is false when none
// or several are given. The way stops at an object embedded in root.
func (w *walker) binding(root *yaml.Node, path, target Path, list, x string, on way) (b binding, ok bool) {
	var found []binding
	n := root
	for depth := len(path); ; depth++ {
		if n, on = w.at(n, on); n.Kind == yaml.MappingNode {
			if depth > len(path) && isObject(n) {
				found = found[:0]
			}
			found = append(found, w.bindings(n, slices.Clip(target[:depth]), list, x, on)...)
		}
		if depth >= len(target)-1 {
			break
		}
		if n, on = w.stepInto(n, target[depth], on); n == nil {
			return binding{}, false
		}
	}
	if len(found) != 1 || notString(found[0].node) != nil {
		return binding{}, false
	}
	return found[0], true
}

// stepInto returns the child of n that e names, and the way to it, or nil.
func (w *walker) stepInto(n *yaml.Node, e PathElem, on way) (*yaml.Node, way) {
	if e.Key == "" {
		if n.Kind != yaml.SequenceNode || e.Index >= len(n.Content) {
			return nil, on
		}
		return n.Content[e.Index], on
	}
	for _, p := range w.pairs(n) {
		if p.key.Value == e.Key {
			return p.value, through(p, on)
		}
	}
	return nil, on
}

// bindings returns the values given to the parameter x in the list of
// parameters of the mapping n, at path: "default" where it is declared,
// "value" where a run or a pipeline task passes it.
func (w *walker) bindings(n *yaml.Node, path Path, list, x string, on way) []binding {
	var out []binding
	for _, p := range w.pairs(n) {
		if p.key.Value != list {
			continue
		}
		params, on := w.at(p.value, through(p, on))
		if params.Kind != yaml.SequenceNode {
			continue
		}
		for i, item := range params.Content {
			item, on := w.at(item, on)
			if item.Kind != yaml.MappingNode {
				continue
			}
			ps := w.pairs(item)
			if scalar(value(ps, "name")) != x {
				continue
			}
			for _, e := range ps {
				if (e.key.Value == "default" || e.key.Value == "value") && !isNull(e.value) {
					v, von := w.at(e.value, through(e, on))
					out = append(out, binding{v, path.with(list).at(i).with(e.key.Value), von})
				}
			}
		}
	}
	return out
}
