package krm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/krm"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

const ecr = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn"

// deployment is an item as kustomize sends it, with the annotations it
// sets for its own bookkeeping.
const deployment = `- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: shop
    annotations:
      config.kubernetes.io/index: '0'
      internal.config.kubernetes.io/index: '0'
      internal.config.kubernetes.io/annotations-migration-resource-id: '0'
      internal.config.kubernetes.io/id: '1'
      config.k8s.io/id: '1'
  spec:
    template:
      spec:
        initContainers:
        - name: init
          image: direct.to/busybox:1.36
        containers:
        - name: web
          image: nginx:1.25 # pinned
        - name: sidecar
          image: quay.io/prometheus/node-exporter:v1.7.0
`

const mirrorRules = `  apiVersion: kmirror.dev/v1alpha1
  kind: MirrorRules
  metadata:
    name: in-house
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: kmirror
      config.kubernetes.io/local-config: 'true'
  spec:
    mirrors:
    - from: docker.io/
      to: mirror.example.com/hub/
    - from: quay.io/
      to: mirror.example.com/quay/
`

// resourceList is a ResourceList of apiVersion version around items and an
// optional functionConfig.
func resourceList(version, functionConfig, items string) string {
	s := "apiVersion: config.kubernetes.io/" + version + "\nkind: ResourceList\n"
	if functionConfig != "" {
		s += "functionConfig:\n" + functionConfig
	}
	return s + "items:\n" + items
}

// decoded is a ResourceList as the tests read the function's output.
type decoded struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Items      yaml.Node         `yaml:"items"`
	Results    framework.Results `yaml:"results"`
}

func decode(t *testing.T, out []byte) decoded {
	t.Helper()
	var rl decoded
	if err := yaml.Unmarshal(out, &rl); err != nil {
		t.Fatalf("output is not a ResourceList: %v\n%s", err, out)
	}
	return rl
}

// images returns the image values of every item, as the walk finds them.
func images(items []*yaml.Node) []string {
	var out []string
	for _, item := range items {
		fields, err := manifest.Images(item)
		if err != nil {
			panic(err)
		}
		for _, f := range fields {
			n := f.Node
			if n.Kind == yaml.AliasNode {
				n = n.Alias
			}
			out = append(out, f.Path.String()+"="+n.Value)
		}
	}
	return out
}

func annotations(items []*yaml.Node) []map[string]string {
	var out []map[string]string
	for _, item := range items {
		out = append(out, yaml.NewRNode(item).GetAnnotations())
	}
	return out
}

func TestRunRewritesItems(t *testing.T) {
	hub := func(s string) string { return "mirror.example.com/hub/" + s }
	tests := []struct {
		name, in   string
		wantImages []string
	}{
		{
			name: "v1 without functionConfig takes the default rules",
			in:   resourceList("v1", "", deployment),
			wantImages: []string{
				"spec.template.spec.initContainers[0].image=busybox:1.36",
				"spec.template.spec.containers[0].image=" + ecr + "/dockerhub/nginx:1.25",
				"spec.template.spec.containers[1].image=" + ecr + "/quay/prometheus/node-exporter:v1.7.0",
			},
		},
		{
			name: "v1alpha1, the older kpt form",
			in:   resourceList("v1alpha1", "", deployment),
			wantImages: []string{
				"spec.template.spec.initContainers[0].image=busybox:1.36",
				"spec.template.spec.containers[0].image=" + ecr + "/dockerhub/nginx:1.25",
				"spec.template.spec.containers[1].image=" + ecr + "/quay/prometheus/node-exporter:v1.7.0",
			},
		},
		{
			name: "a MirrorRules functionConfig",
			in:   resourceList("v1", mirrorRules, deployment),
			wantImages: []string{
				"spec.template.spec.initContainers[0].image=busybox:1.36",
				"spec.template.spec.containers[0].image=" + hub("nginx:1.25"),
				"spec.template.spec.containers[1].image=mirror.example.com/quay/prometheus/node-exporter:v1.7.0",
			},
		},
		{
			name: "a ConfigMap functionConfig with data.rules",
			in: resourceList("v1", `  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: mirror-rules
  data:
    rules: |
      apiVersion: kmirror.dev/v1alpha1
      kind: MirrorRules
      metadata:
        name: hub-only
      spec:
        escapePrefix: ""
        mirrors:
        - from: docker.io/
          to: mirror.example.com/hub/
`, deployment),
			wantImages: []string{
				"spec.template.spec.initContainers[0].image=direct.to/busybox:1.36",
				"spec.template.spec.containers[0].image=" + hub("nginx:1.25"),
				"spec.template.spec.containers[1].image=quay.io/prometheus/node-exporter:v1.7.0",
				// With escaping off, direct.to/ is a registry like any other.
			},
		},
		{
			name: "a ConfigMap without data only declares the function: the default rules",
			in: resourceList("v1", `  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: kmirror
    annotations:
      config.kubernetes.io/function: |
        exec: {path: kmirror}
`, deployment),
			wantImages: []string{
				"spec.template.spec.initContainers[0].image=busybox:1.36",
				"spec.template.spec.containers[0].image=" + ecr + "/dockerhub/nginx:1.25",
				"spec.template.spec.containers[1].image=" + ecr + "/quay/prometheus/node-exporter:v1.7.0",
			},
		},
		{
			name: "a MirrorRules without spec only declares the function: the default rules",
			in: resourceList("v1", `  apiVersion: kmirror.dev/v1alpha1
  kind: MirrorRules
  metadata:
    name: kmirror
    annotations:
      config.kubernetes.io/function: |
        exec: {path: kmirror}
`, deployment),
			wantImages: []string{
				"spec.template.spec.initContainers[0].image=busybox:1.36",
				"spec.template.spec.containers[0].image=" + ecr + "/dockerhub/nginx:1.25",
				"spec.template.spec.containers[1].image=" + ecr + "/quay/prometheus/node-exporter:v1.7.0",
			},
		},
		{
			name: "items of a List",
			in: resourceList("v1", mirrorRules, `- apiVersion: v1
  kind: List
  items:
  - apiVersion: batch/v1
    kind: CronJob
    metadata: {name: nightly}
    spec:
      jobTemplate:
        spec:
          template:
            spec:
              containers: [{name: job, image: bitnami/kubectl:1.30}]
`),
			wantImages: []string{
				"items[0].spec.jobTemplate.spec.template.spec.containers[0].image=" + hub("bitnami/kubectl:1.30"),
			},
		},
		{
			name:       "no items",
			in:         "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n",
			wantImages: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := krm.Function{}.Run([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			in, got := decode(t, []byte(tc.in)), decode(t, out.ResourceList)
			if got.APIVersion != in.APIVersion || got.Kind != "ResourceList" {
				t.Errorf("output is %s %s, want %s ResourceList", got.APIVersion, got.Kind, in.APIVersion)
			}
			if diff := cmp.Diff(tc.wantImages, images(got.Items.Content)); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(annotations(in.Items.Content), annotations(got.Items.Content)); diff != "" {
				t.Errorf("annotations changed (-in +out):\n%s", diff)
			}
			if len(got.Results) != 0 {
				t.Errorf("results = %v, want none", got.Results)
			}
		})
	}
}

func TestRunKeepsEverythingElse(t *testing.T) {
	in := resourceList("v1", mirrorRules, deployment)
	out, err := krm.Function{}.Run([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		"image: nginx:1.25", "image: mirror.example.com/hub/nginx:1.25",
		"image: quay.io/", "image: mirror.example.com/quay/",
		"image: direct.to/busybox", "image: busybox",
	).Replace(in)
	if diff := cmp.Diff(want, string(out.ResourceList)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestRunWarnsOfInvalidImages(t *testing.T) {
	in := resourceList("v1", "", `- apiVersion: apps/v1
  kind: StatefulSet
  metadata:
    name: db
    namespace: data
    annotations:
      internal.config.kubernetes.io/path: apps/db.yaml
      internal.config.kubernetes.io/index: '2'
  spec:
    template:
      spec:
        containers:
        - name: db
          image: Postgres:16
- apiVersion: v1
  kind: List
  items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: p}
    spec:
      containers: [{name: a, image: "nginx::1"}, {name: b, image: nginx}]
`)
	out, err := krm.Function{}.Run([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := framework.Results{
		{
			Message:     `invalid image reference "Postgres:16": invalid reference format: repository name (library/Postgres) must be lowercase`,
			Severity:    framework.Warning,
			ResourceRef: &yaml.ResourceIdentifier{TypeMeta: yaml.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, NameMeta: yaml.NameMeta{Name: "db", Namespace: "data"}},
			Field:       &framework.Field{Path: "spec.template.spec.containers[0].image", CurrentValue: "Postgres:16"},
			File:        &framework.File{Path: "apps/db.yaml", Index: 2},
		},
		{
			Message:     `invalid image reference "nginx::1": invalid reference format`,
			Severity:    framework.Warning,
			ResourceRef: &yaml.ResourceIdentifier{TypeMeta: yaml.TypeMeta{APIVersion: "v1", Kind: "Pod"}, NameMeta: yaml.NameMeta{Name: "p"}},
			Field:       &framework.Field{Path: "items[0].spec.containers[0].image", CurrentValue: "nginx::1"},
		},
	}
	if diff := cmp.Diff(want, out.Results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, decode(t, out.ResourceList).Results); diff != "" {
		t.Errorf("results written (-want +got):\n%s", diff)
	}
	got := images(decode(t, out.ResourceList).Items.Content)
	wantImages := []string{
		"spec.template.spec.containers[0].image=Postgres:16",
		"items[0].spec.containers[0].image=nginx::1",
		"items[0].spec.containers[1].image=" + ecr + "/dockerhub/nginx",
	}
	if diff := cmp.Diff(wantImages, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

func TestRunAppendsToResults(t *testing.T) {
	in := resourceList("v1", "", `- kind: Pod
  metadata: {name: p}
  spec: {containers: [{image: "Bad"}]}
`) + "results:\n- message: from an earlier function\n  severity: info\n"
	out, err := krm.Function{}.Run([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range decode(t, out.ResourceList).Results {
		got = append(got, string(r.Severity)+": "+r.Message)
	}
	want := []string{
		"info: from an earlier function",
		`warning: invalid image reference "Bad": invalid reference format: repository name (library/Bad) must be lowercase`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestRunBadFunctionConfig(t *testing.T) {
	tests := []struct {
		name, functionConfig string
		// wantErr is the whole message, line included.
		wantErr   string
		wantRef   yaml.ResourceIdentifier
		wantRules bool
	}{
		{
			name: "a MirrorRules with an unknown field",
			functionConfig: `  apiVersion: kmirror.dev/v1alpha1
  kind: MirrorRules
  metadata:
    name: typo
  spec:
    mirrors:
    - form: docker.io/
      to: mirror.example.com/hub/
`,
			wantErr:   `functionConfig MirrorRules typo, line 7: spec.mirrors[0]: unknown field "form" (known: [from to])`,
			wantRef:   yaml.ResourceIdentifier{TypeMeta: yaml.TypeMeta{APIVersion: "kmirror.dev/v1alpha1", Kind: "MirrorRules"}, NameMeta: yaml.NameMeta{Name: "typo"}},
			wantRules: true,
		},
		{
			name: "a ConfigMap whose data.rules has a bad prefix",
			functionConfig: `  apiVersion: v1
  kind: ConfigMap
  metadata: {name: mirror-rules, namespace: ci}
  data:
    rules: |
      apiVersion: kmirror.dev/v1alpha1
      kind: MirrorRules
      spec:
        mirrors:
        - from: docker.io/
          to: "not a prefix"
`,
			wantErr:   `functionConfig ConfigMap mirror-rules data.rules, line 6: mirrors[0].to: invalid image reference: "not a prefix" is not a registry or repository prefix: invalid reference format`,
			wantRef:   yaml.ResourceIdentifier{TypeMeta: yaml.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, NameMeta: yaml.NameMeta{Name: "mirror-rules", Namespace: "ci"}},
			wantRules: true,
		},
		{
			name: "a ConfigMap with data but no rules",
			functionConfig: `  apiVersion: v1
  kind: ConfigMap
  metadata: {name: mirror-rules}
  data:
    rule: oops
`,
			wantErr: `functionConfig ConfigMap mirror-rules, line 4: data has no key "rules" (keys: rule)`,
			wantRef: yaml.ResourceIdentifier{TypeMeta: yaml.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, NameMeta: yaml.NameMeta{Name: "mirror-rules"}},
		},
		{
			name: "another kind",
			functionConfig: `  apiVersion: example.com/v1
  kind: ImageMirror
  metadata: {name: m}
`,
			wantErr: `functionConfig ImageMirror m, line 1: kind is "ImageMirror"; want MirrorRules (a rules file) or a ConfigMap whose data.rules holds one`,
			wantRef: yaml.ResourceIdentifier{TypeMeta: yaml.TypeMeta{APIVersion: "example.com/v1", Kind: "ImageMirror"}, NameMeta: yaml.NameMeta{Name: "m"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := resourceList("v1", tc.functionConfig, deployment)
			out, err := krm.Function{}.Run([]byte(in))
			var ce *krm.ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, krm.ErrConfig) {
				t.Fatalf("err = %v, want a *krm.ConfigError", err)
			}
			if errors.Is(err, rules.ErrInvalid) != tc.wantRules {
				t.Errorf("errors.Is(err, rules.ErrInvalid) = %v, want %v", !tc.wantRules, tc.wantRules)
			}
			if diff := cmp.Diff(tc.wantErr, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if out == nil {
				t.Fatal("no ResourceList to write back")
			}
			want := framework.Results{{Message: tc.wantErr, Severity: framework.Error, ResourceRef: &tc.wantRef}}
			if diff := cmp.Diff(want, decode(t, out.ResourceList).Results); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if want.ExitCode() == 0 {
				t.Error("the results do not make the function fail")
			}
			if diff := cmp.Diff(images(decode(t, []byte(in)).Items.Content), images(decode(t, out.ResourceList).Items.Content)); diff != "" {
				t.Errorf("items changed (-in +out):\n%s", diff)
			}
		})
	}
}

func TestRunFallbackRules(t *testing.T) {
	calls := 0
	f := krm.Function{Rules: func() (*mirror.Engine, error) {
		calls++
		return mirror.New(mirror.Rules{Mirrors: []mirror.Rule{{From: "docker.io/", To: "fallback.example.com/"}}})
	}}
	out, err := f.Run([]byte(resourceList("v1", "", deployment)))
	if err != nil {
		t.Fatal(err)
	}
	if got := images(decode(t, out.ResourceList).Items.Content)[1]; got != "spec.template.spec.containers[0].image=fallback.example.com/nginx:1.25" {
		t.Errorf("without functionConfig: %s, want the fallback rules", got)
	}
	if _, err := f.Run([]byte(resourceList("v1", mirrorRules, deployment))); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("fallback loaded %d times, want once: a functionConfig with rules needs none", calls)
	}

	failing := krm.Function{Rules: func() (*mirror.Engine, error) { return nil, errors.New("no such preset") }}
	out, err = failing.Run([]byte(resourceList("v1", "", deployment)))
	if err == nil || err.Error() != "no such preset" {
		t.Fatalf("err = %v, want the fallback's error", err)
	}
	if r := decode(t, out.ResourceList).Results; len(r) != 1 || r[0].Severity != framework.Error {
		t.Errorf("results = %v, want one error", r)
	}
}

func TestRunJSON(t *testing.T) {
	in := `{"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
  "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "a", "image": "quay.io/a/b:1"}]}}]}`
	out, err := krm.Function{}.Run([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "apiVersion": "config.kubernetes.io/v1",
  "items": [
    {
      "apiVersion": "v1",
      "kind": "Pod",
      "metadata": {
        "name": "p"
      },
      "spec": {
        "containers": [
          {
            "image": "` + ecr + `/quay/a/b:1",
            "name": "a"
          }
        ]
      }
    }
  ],
  "kind": "ResourceList"
}
`
	if diff := cmp.Diff(want, string(out.ResourceList)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestRunRejects(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{"not a ResourceList", "apiVersion: v1\nkind: List\nitems: []\n", "reading ResourceList: want kind ResourceList of config.kubernetes.io/v1, not v1 List"},
		{"items not a list", "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: {a: b}\n", "reading ResourceList: line 3: items must be a list"},
		{"two documents", "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n---\nkind: Pod\n", "reading ResourceList: line 4: a second document; a ResourceList comes alone"},
		{"empty", "", "reading ResourceList: empty input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := krm.Function{}.Run([]byte(tc.in))
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if out != nil {
				t.Errorf("output %q for input that is not a ResourceList", out.ResourceList)
			}
		})
	}
}

func TestIsResourceList(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"v1", "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n", true},
		{"v1alpha1", "apiVersion: config.kubernetes.io/v1alpha1\nkind: ResourceList\nitems: []\n", true},
		{"JSON", `{"kind": "ResourceList", "apiVersion": "config.kubernetes.io/v1", "items": []}`, true},
		{"with comments and a document marker", "# from kpt\n---\napiVersion: config.kubernetes.io/v1\nkind: ResourceList\n", true},
		{"a manifest", "apiVersion: v1\nkind: Pod\nspec: {containers: [{image: nginx}]}\n", false},
		{"a List", "apiVersion: v1\nkind: List\nitems: []\n", false},
		{"another group", "apiVersion: example.com/v1\nkind: ResourceList\nitems: []\n", false},
		{"a stream that starts with one", "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n---\nkind: Pod\n", false},
		{"the word in a ConfigMap", "kind: ConfigMap\ndata: {kind: ResourceList}\n", false},
		{"malformed", "kind: ResourceList\n  bad: [\n", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := krm.IsResourceList([]byte(tc.in)); got != tc.want {
				t.Errorf("IsResourceList = %v, want %v", got, tc.want)
			}
		})
	}
}
