package manifest

import (
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/mirror"
)

// decided is the engine's answer for one field of an object, with what
// applying it takes.
type decided struct {
	Field
	Decision mirror.Decision
	// Target is the scalar to set to Decision.Result, or nil when there is
	// nothing to set.
	Target *yaml.Node
	// Warning says why the image is left as it was, if there is a reason
	// to tell.
	Warning string
}

// decideObject decides every image field of one object. Both the stream
// rewriter and the Rewriter filter apply its answers, so they agree on
// every image, alias and warning.
func decideObject(fields []Field, eng *mirror.Engine) []decided {
	own := make(map[*yaml.Node]bool, len(fields))
	for _, f := range fields {
		own[f.Node] = true
	}
	out := make([]decided, len(fields))
	for i, f := range fields {
		n := f.Node
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		d := decided{Field: f, Decision: eng.Decide(n.Value)}
		if d.Decision.Action == mirror.Invalid {
			d.Warning = d.Decision.Err.Error()
		}
		switch {
		case !d.Decision.Changed():
		case f.Node.Kind == yaml.AliasNode && own[n]:
			// The anchored image is a field of its own and is set there.
		case f.Node.Kind == yaml.AliasNode:
			d.leave("image is a YAML alias of a value that is not an image field; left unchanged")
		case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
			d.leave("image is a block scalar; left unchanged")
		default:
			d.Target = n
		}
		out[i] = d
	}
	return out
}

// leave keeps the image as it was, for the reason given.
func (d *decided) leave(why string) {
	d.Decision.Result = d.Decision.Image
	d.Warning = why
}
