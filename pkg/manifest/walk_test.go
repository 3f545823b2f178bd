package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

func parse(t *testing.T, doc string) *yaml.Node {
	t.Helper()
	n, err := yaml.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	return n.YNode()
}

const podSpec = `
      initContainers: [{name: init, image: i}]
      containers: [{name: main, image: c}]
      ephemeralContainers: [{name: debug, image: e}]
      volumes: [{name: v, image: {reference: r}}, {name: cm, configMap: {name: x}}]`

func TestImages(t *testing.T) {
	all := func(prefix string) []string {
		return []string{prefix + "initContainers[0].image", prefix + "containers[0].image",
			prefix + "ephemeralContainers[0].image", prefix + "volumes[0].image.reference"}
	}
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"Pod", "kind: Pod\nspec:" + podSpec, all("spec.")},
		{"PodTemplate", "kind: PodTemplate\ntemplate:\n  spec:" + podSpec, all("template.spec.")},
		{"Deployment", "kind: Deployment\nspec:\n  template:\n    spec:" + podSpec, all("spec.template.spec.")},
		{"ReplicaSet", "kind: ReplicaSet\nspec:\n  template:\n    spec:" + podSpec, all("spec.template.spec.")},
		{"StatefulSet", "kind: StatefulSet\nspec:\n  template:\n    spec:" + podSpec, all("spec.template.spec.")},
		{"DaemonSet", "kind: DaemonSet\nspec:\n  template:\n    spec:" + podSpec, all("spec.template.spec.")},
		{"ReplicationController", "kind: ReplicationController\nspec:\n  template:\n    spec:" + podSpec, all("spec.template.spec.")},
		{"Job", "kind: Job\nspec:\n  template:\n    spec:" + podSpec, all("spec.template.spec.")},
		{"CronJob", "kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:" + strings.ReplaceAll(podSpec, "\n      ", "\n          "), all("spec.jobTemplate.spec.template.spec.")},
		{"Argo Rollout", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nspec:\n  template:\n    spec:" + podSpec, all("spec.template.spec.")},
		{"Knative Service", "apiVersion: serving.knative.dev/v1\nkind: Service\nspec:\n  template:\n    spec:\n      containers: [{image: k}]", []string{"spec.template.spec.containers[0].image"}},
		{"OpenKruise Advanced DaemonSet", "kind: DaemonSet\napiVersion: apps.kruise.io/v1alpha1\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: k}]", []string{"spec.template.spec.containers[0].image"}},
		{"List", "kind: List\nitems:\n- kind: Pod\n  spec:\n    containers: [{image: a}]\n- kind: ConfigMap\n  data: {containers: x}\n- kind: Deployment\n  spec:\n    template:\n      spec:\n        containers: [{image: b}]",
			[]string{"items[0].spec.containers[0].image", "items[2].spec.template.spec.containers[0].image"}},
		{"PodList", "kind: PodList\nitems:\n- kind: Pod\n  spec:\n    containers: [{image: a}]", []string{"items[0].spec.containers[0].image"}},
		{"CRD schema", `kind: CustomResourceDefinition
spec:
  versions:
  - schema:
      openAPIV3Schema:
        properties:
          containers: {type: array, items: {properties: {image: {type: string}}}}
          default: {containers: [{image: nginx}]}`, nil},
		{"ConfigMap", "kind: ConfigMap\ndata:\n  spec: 'containers: [{image: nginx}]'\n  containers: [{image: nginx}]", nil},
		{"Secret", "kind: Secret\nstringData:\n  containers: [{image: nginx}]", nil},
		{"annotations", "kind: Pod\nmetadata:\n  annotations: {image: nginx}\n  containers: [{image: nginx}]\nspec:\n  containers: [{image: a}]", []string{"spec.containers[0].image"}},
		{"schema-shaped containers", "kind: Widget\nspec:\n  containers: {type: array}", nil},
		{"empty and null images", "kind: Pod\nspec:\n  containers: [{name: a, image: ''}, {name: b, image: null}, {name: c}, {name: d, image: x}]", []string{"spec.containers[3].image"}},
		{"not an object", "- a\n- b", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			fields, err := Images(parse(t, tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fields {
				got = append(got, f.Path.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("image paths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFieldDetails(t *testing.T) {
	doc := "kind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: nginx}]\n      volumes: [{name: data, image: {reference: r}}]"
	got, err := Images(parse(t, doc))
	if err != nil || len(got) != 2 {
		t.Fatalf("found %d fields (%v), want 2", len(got), err)
	}
	want := Object{Kind: "Deployment", Namespace: "prod", Name: "web"}
	for _, f := range got {
		if f.Object != want {
			t.Errorf("%s: object %+v, want %+v", f.Path, f.Object, want)
		}
	}
	if f := got[0]; f.List != "containers" || f.Name != "app" || f.Node.Value != "nginx" ||
		f.Path.Pointer() != "/spec/template/spec/containers/0/image" {
		t.Errorf("container field: %+v, pointer %s", f, f.Path.Pointer())
	}
	if f := got[1]; f.List != "volumes" || f.Name != "data" || f.Path.Pointer() != "/spec/template/spec/volumes/0/image/reference" {
		t.Errorf("volume field: %+v, pointer %s", f, f.Path.Pointer())
	}
}

func TestPointerEscapes(t *testing.T) {
	p := Path{{Key: "a/b"}, {Key: "c~d"}, {Index: 3}}
	if got, want := p.Pointer(), "/a~1b/c~0d/3"; got != want {
		t.Errorf("Pointer() = %q, want %q", got, want)
	}
	if got, want := p.String(), "a/b.c~d[3]"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"quay.io/a:1":                 "quay.io/a:1",
		"é, 日本, tab\there":            `é, 日本, tab\x09here`,
		"\x1b[31mred\x7f":             `\x1b[31mred\x7f`,
		"csi\u009b2J rlo\u202e\u2066": `csi\u009b2J rlo\u202e\u2066`,
		"bad \xff byte":               `bad \xff byte`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
