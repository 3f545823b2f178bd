package admission

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"kmirror.dev/kmirror/rules"
)

// TestHandlerReadsDeclaredFields checks that the fields a rules file
// declares reach the webhook, as `kmirror serve --rules` gives them.
func TestHandlerReadsDeclaredFields(t *testing.T) {
	eng, err := rules.Parse("rules.yaml", []byte(`apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
spec:
  mirrors: [{from: quay.io/, to: m.example.com/quay/}]
  imageFields: [{group: example.com, kind: Widget, path: spec.image}]
`))
	if err != nil {
		t.Fatal(err)
	}
	h := testHandler{Handler: &Handler{Engine: eng}}
	widget := podJSON(t, `{apiVersion: example.com/v1, kind: Widget, metadata: {name: w}, spec: {image: quay.io/w:1}}`)
	a := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", widget, nil, nil))
	want := `[{"op":"replace","path":"/spec/image","value":"m.example.com/quay/w:1"}]`
	if diff := cmp.Diff(decode(t, []byte(want)), decode(t, a.Response.Patch)); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	m, err := Mutate(eng, widget, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(decode(t, []byte(want)), decode(t, m.Patch())); diff != "" {
		t.Errorf("Mutate patch (-want +got):\n%s", diff)
	}
}
