package mirror

import (
	"slices"

	"kmirror.dev/kmirror/pkg/image"
)

// Sources returns the images that the rules mirror to img, for an image
// already under a rule's "to": each "from" of a rule whose "to" holds img,
// followed by the rest of img, kept when Decide sends it back to img
// exactly. Several rules may share a "to" (k8s.gcr.io/ and registry.k8s.io/
// in the default rules), so there may be several. It returns nil for an
// image under no "to".
func (e *Engine) Sources(img string) []string {
	ref, err := image.Parse(img)
	if err != nil {
		return nil
	}
	var out []string
	for i := range e.mirrors {
		rest, ok := e.mirrors[i].to.Match(ref)
		if !ok {
			continue
		}
		src := e.mirrors[i].from.Written + rest
		if d := e.Decide(src); d.Action == Mirrored && d.Result == img && !slices.Contains(out, src) {
			out = append(out, src)
		}
	}
	return out
}
