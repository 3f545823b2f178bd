package manifest

import (
	"bytes"
	"testing"

	"kmirror.dev/kmirror/pkg/mirror"
)

// FuzzRewrite feeds arbitrary streams to Rewrite. It must never panic; what
// it accepts it must accept again after rewriting, with the same documents;
// and rewriting twice must equal rewriting once, unless the first pass
// escaped an image, which by design a second pass then mirrors.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		"kind: Pod\nspec:\n  containers:\n  - image: nginx # c\n  - image: \"direct.to/busybox\"\n",
		"kind: Deployment\nspec:\n  template:\n    spec:\n      initContainers: [{image: 'quay.io/a/b:1'}]\n---\nkind: ConfigMap\ndata: {a: b}\n",
		`{"kind":"Pod","spec":{"containers":[{"image":"k8s.gcr.io/pause:3.1"}]}}`,
		"kind: List\nitems:\n- kind: Pod\n  spec: {containers: [{image: &a gcr.io/x}, {image: *a}]}\n",
		"kind: Pod\nspec:\n  containers:\n  - image: !!str registry.k8s.io/x\n  volumes: [{image: {reference: nginx}}]\n",
		"---\n--- \n...\n# c\n",
	} {
		f.Add([]byte(s))
	}
	eng := engine(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		first, err := Rewrite("in", in, eng)
		if err != nil {
			return
		}
		if len(first.Rewritten()) == 0 && !bytes.Equal(first.Output, in) {
			t.Fatalf("nothing rewritten, but the output differs:\n%q\n%q", in, first.Output)
		}
		second, err := Rewrite("out", first.Output, eng)
		if err != nil {
			t.Fatalf("the output of a rewrite does not parse: %v\n%q", err, first.Output)
		}
		if second.Documents != first.Documents || len(second.Images) != len(first.Images) {
			t.Fatalf("rewriting changed the documents or fields: %d/%d documents, %d/%d images\n%q\n%q",
				first.Documents, second.Documents, len(first.Images), len(second.Images), in, first.Output)
		}
		for _, img := range first.Images {
			if img.Decision.Action == mirror.Escaped {
				return
			}
		}
		if !bytes.Equal(second.Output, first.Output) {
			t.Fatalf("rewriting twice differs from once:\n%q\n%q", first.Output, second.Output)
		}
	})
}
