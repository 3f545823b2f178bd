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

// TestHandlerFindsByName checks that the webhook finds image fields by
// their name, reads the values the rules declare, rewrites only the image
// of an argument, and finds nothing by name with NoInfer.
func TestHandlerFindsByName(t *testing.T) {
	eng, err := rules.Parse("rules.yaml", []byte(`apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
spec:
  mirrors: [{from: quay.io/, to: m.example.com/quay/}]
  imageValues: [{arg: --executor-image}]
`))
	if err != nil {
		t.Fatal(err)
	}
	widget := podJSON(t, `{apiVersion: example.com/v1, kind: Widget, metadata: {name: w},
		spec: {image: quay.io/w:1, template: {spec: {containers: [{name: c, image: quay.io/c:1, args: ["-v --executor-image=quay.io/e:1 --x"]}]}}}}`)
	for _, tc := range []struct {
		noInfer bool
		want    string
	}{
		{false, `[{"op":"replace","path":"/spec/image","value":"m.example.com/quay/w:1"},
			{"op":"replace","path":"/spec/template/spec/containers/0/args/0","value":"-v --executor-image=m.example.com/quay/e:1 --x"},
			{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"m.example.com/quay/c:1"}]`},
		{true, `[{"op":"replace","path":"/spec/template/spec/containers/0/args/0","value":"-v --executor-image=m.example.com/quay/e:1 --x"},
			{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"m.example.com/quay/c:1"}]`},
	} {
		h := testHandler{Handler: &Handler{Engine: eng, NoInfer: tc.noInfer}}
		a := h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", widget, nil, nil))
		if diff := cmp.Diff(decode(t, []byte(tc.want)), decode(t, a.Response.Patch)); diff != "" {
			t.Errorf("NoInfer %v: patch (-want +got):\n%s", tc.noInfer, diff)
		}
		h.SetEngine(eng)
		a = h.review(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", widget, nil, nil))
		if diff := cmp.Diff(decode(t, []byte(tc.want)), decode(t, a.Response.Patch)); diff != "" {
			t.Errorf("NoInfer %v, after SetEngine: patch (-want +got):\n%s", tc.noInfer, diff)
		}
	}
}
