package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// krmResourceList wraps items, and an optional functionConfig, in a v1
// ResourceList as kustomize sends it.
func krmResourceList(functionConfig, items string) string {
	s := "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + items
	if functionConfig != "" {
		s += "functionConfig:\n" + functionConfig
	}
	return s
}

const (
	krmItem = `- apiVersion: v1
  kind: Pod
  metadata:
    name: p
    annotations:
      config.kubernetes.io/index: '0'
  spec:
    containers:
    - name: a
      image: k8s.gcr.io/coredns:1.3.1 # dns
`
	krmBadItem = `- apiVersion: v1
  kind: Pod
  metadata: {name: bad}
  spec:
    containers: [{name: a, image: "Nginx"}]
`
	krmRules = `  apiVersion: kmirror.dev/v1alpha1
  kind: MirrorRules
  metadata: {name: m}
  spec:
    mirrors:
    - {from: k8s.gcr.io/, to: mirror.example.com/k8s/}
`
)

func TestFunction(t *testing.T) {
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte("apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nspec:\n  mirrors:\n  - {from: k8s.gcr.io/, to: flag.example.com/}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantStdout string
		wantStderr string
	}{
		{
			name:       "default rules, and no summary line",
			stdin:      krmResourceList("", krmItem),
			wantStdout: strings.Replace(krmResourceList("", krmItem), "k8s.gcr.io/", ecr+"/gcr/google_containers/", 1),
		},
		{
			name:       "rules from the functionConfig",
			stdin:      krmResourceList(krmRules, krmItem),
			wantStdout: strings.Replace(krmResourceList(krmRules, krmItem), "image: k8s.gcr.io/", "image: mirror.example.com/k8s/", 1),
		},
		{
			name:       "rules from --rules without a functionConfig",
			args:       []string{"--rules", rulesFile},
			stdin:      krmResourceList("", krmItem),
			wantStdout: strings.Replace(krmResourceList("", krmItem), "k8s.gcr.io/", "flag.example.com/", 1),
		},
		{
			name:  "an invalid image: a warning result, and on stderr",
			stdin: krmResourceList("", krmBadItem),
			wantStdout: krmResourceList("", krmBadItem) + `results:
- message: 'invalid image reference "Nginx": invalid reference format: repository name (library/Nginx) must be lowercase'
  severity: warning
  resourceRef:
    apiVersion: v1
    kind: Pod
    name: bad
  field:
    path: spec.containers[0].image
    currentValue: Nginx
`,
			wantStderr: `kmirror: [warning] v1/Pod/bad spec.containers[0].image: invalid image reference "Nginx": invalid reference format: repository name (library/Nginx) must be lowercase` + "\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.stdin, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if diff := cmp.Diff(tc.wantStdout, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFunctionBadConfig(t *testing.T) {
	bad := strings.Replace(krmRules, "{from: k8s.gcr.io/", "{form: k8s.gcr.io/", 1)
	stdout, stderr, code := run(t, krmResourceList(bad, krmItem))
	if code == 0 {
		t.Fatal("exit 0 with a bad functionConfig; the KRM spec wants non-zero")
	}
	msg := `functionConfig MirrorRules m, line 6: spec.mirrors[0]: unknown field "form" (known: [from to])`
	if want := "kmirror: " + msg + "\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	// The items come back as they were, with the error in results.
	want := krmResourceList(bad, krmItem) + `results:
- message: '` + msg + `'
  severity: error
  resourceRef:
    apiVersion: kmirror.dev/v1alpha1
    kind: MirrorRules
    name: m
`
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

func TestFunctionRejectsStreamFlags(t *testing.T) {
	for _, args := range [][]string{{"--check"}, {"--diff"}, {"--check", "-o", "json"}} {
		stdout, stderr, code := run(t, krmResourceList("", krmItem), args...)
		want := "kmirror: stdin is a ResourceList, which kmirror runs as a KRM function: --check, --diff, --in-place and --output do not apply\n"
		if code != 2 || stdout != "" || stderr != want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2, nothing and %q", args, code, stdout, stderr, want)
		}
	}
}

// TestBareStreamIsNotAFunction: what is not a ResourceList is rewritten as
// a stream, byte for byte, as before.
func TestBareStreamIsNotAFunction(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{
			"a List",
			"apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  spec: {containers: [{image:  quay.io/a/b}]}\n",
			"apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  spec: {containers: [{image:  " + ecr + "/quay/a/b}]}\n",
		},
		{
			"a stream that mentions ResourceList",
			"kind: ConfigMap\ndata: {kind: ResourceList}\n---\nkind: Pod\nspec: {containers: [{image: 'quay.io/a/b'}]}\n",
			"kind: ConfigMap\ndata: {kind: ResourceList}\n---\nkind: Pod\nspec: {containers: [{image: '" + ecr + "/quay/a/b'}]}\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.in)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if diff := cmp.Diff(tc.want, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(stderr, "rewrote 1 image in 1 of ") {
				t.Errorf("stderr %q, want the summary line", stderr)
			}
		})
	}
	stdout, stderr, code := run(t, "kind: Pod\n---\nkind: [\n")
	if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "kmirror: stdin: document 2, line 3:") {
		t.Errorf("malformed stream: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestFunctionInAnyForm runs the function on ResourceLists longer than the
// start kmirror reads to tell a ResourceList, with "kind" after the items
// (keys sorted, as PyYAML and encoding/json write them), in YAML and in
// JSON with "\/" escapes: the functionConfig's rules apply.
func TestFunctionInAnyForm(t *testing.T) {
	items := strings.Repeat(krmItem, 400)
	sorted := "apiVersion: config.kubernetes.io/v1\nfunctionConfig:\n" + krmRules + "items:\n" + items + "kind: ResourceList\n"
	jsonItem := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"k8s.gcr.io\/coredns:1.3.1"}]}}`
	jsonList := `{"apiVersion":"config.kubernetes.io\/v1","functionConfig":{"apiVersion":"kmirror.dev\/v1alpha1","kind":"MirrorRules",` +
		`"spec":{"mirrors":[{"from":"k8s.gcr.io\/","to":"mirror.example.com\/k8s\/"}]}},"items":[` +
		strings.TrimSuffix(strings.Repeat(jsonItem+",", 600), ",") + `],"kind":"ResourceList"}`
	for name, in := range map[string]string{"sorted YAML": sorted, "sorted JSON with \\/": jsonList} {
		if len(in) < 64<<10 {
			t.Fatalf("%s: %d bytes, too short to test", name, len(in))
		}
		stdout, stderr, code := run(t, in)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		if n := strings.Count(stdout, "mirror.example.com/k8s/coredns:1.3.1"); n < 400 || strings.Contains(stdout, ecr) {
			t.Errorf("%s: %d images mirrored by the functionConfig's rules; stderr %s", name, n, stderr)
		}
	}
}
