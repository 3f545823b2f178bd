package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// operatorInventory holds images found every way: built in, declared, by
// name, a parameter's default and a templated tag; and strings that look
// like images where kmirror does not read.
const operatorInventory = `apiVersion: apps/v1
kind: Deployment
metadata: {name: operator}
spec:
  template:
    spec:
      containers:
      - name: manager
        image: quay.io/operator/manager:v1
        args: [--worker-image=quay.io/operator/worker:v1]
        env:
        - {name: RELATED_IMAGE_AGENT, value: quay.io/operator/agent:v1}
        - {name: DEFAULT_SIDECAR_IMAGE, value: quay.io/operator/sidecar:v1}
---
apiVersion: operator.example.com/v1
kind: Worker
metadata: {name: w}
spec:
  image: quay.io/operator/worker:v1
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: build}
spec:
  params: [{name: builder, default: gcr.io/kaniko-project/executor:v1.23.2}]
  steps:
  - {name: build, image: $(params.builder)}
  - {name: test, image: docker.io/library/golang:$(params.version)}
`

const operatorRules = `apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
spec:
  mirrors:
  - {from: quay.io/, to: m.example.com/quay/}
  - {from: gcr.io/, to: m.example.com/gcr/}
  - {from: docker.io/, to: m.example.com/hub/}
  imageValues: [{env: "*_SIDECAR_IMAGE"}]
`

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestImagesFound: the table and the JSON say how each field was found, a
// parameter's default says which fields use it, a templated tag is
// mirrored but left out of the mirror list; --no-infer finds nothing by
// name.
func TestImagesFound(t *testing.T) {
	dir := writeFiles(t, map[string]string{"rules.yaml": operatorRules})
	rulesFile := filepath.Join(dir, "rules.yaml")
	stdout, stderr, code := run(t, operatorInventory, "images", "--rules", rulesFile, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Images []struct {
			Path, Image, Result, Action, Found string
			UsedBy                             []string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, img := range rep.Images {
		got = append(got, strings.Join(append([]string{img.Path, img.Image, img.Result, img.Action, img.Found}, img.UsedBy...), " "))
	}
	want := []string{
		"spec.template.spec.containers[0].image quay.io/operator/manager:v1 m.example.com/quay/operator/manager:v1 mirrored builtin",
		"spec.template.spec.containers[0].env[0].value quay.io/operator/agent:v1 m.example.com/quay/operator/agent:v1 mirrored builtin",
		"spec.template.spec.containers[0].env[1].value quay.io/operator/sidecar:v1 m.example.com/quay/operator/sidecar:v1 mirrored declared",
		"spec.image quay.io/operator/worker:v1 m.example.com/quay/operator/worker:v1 mirrored by-name",
		"spec.params[0].default gcr.io/kaniko-project/executor:v1.23.2 m.example.com/gcr/kaniko-project/executor:v1.23.2 mirrored builtin spec.steps[0].image",
		"spec.steps[1].image docker.io/library/golang:$(params.version) m.example.com/hub/library/golang:$(params.version) templated builtin",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}

	stdout, _, _ = run(t, operatorInventory, "images", "--rules", rulesFile)
	for _, s := range []string{"FOUND", "spec.params[0].default (for spec.steps[0].image)", "docker.io/ (templated)", "by-name", "declared"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("the table has no %q:\n%s", s, stdout)
		}
	}

	stdout, _, _ = run(t, operatorInventory, "images", "--rules", rulesFile, "-o", "mirror-list")
	wantList := "gcr.io/kaniko-project/executor:v1.23.2\nquay.io/operator/agent:v1\nquay.io/operator/manager:v1\nquay.io/operator/sidecar:v1\nquay.io/operator/worker:v1\n"
	if diff := cmp.Diff(wantList, stdout); diff != "" {
		t.Errorf("mirror list (-want +got):\n%s", diff)
	}

	// Without inference the Worker's image is gone, in the inventory and
	// in the rewrite alike.
	for _, args := range [][]string{{"images", "-o", "mirror-list"}, {"rewrite", "-q"}} {
		stdout, _, _ = run(t, operatorInventory, append(args, "--rules", rulesFile, "--no-infer")...)
		if strings.Contains(stdout, "m.example.com/quay/operator/worker:v1\n---") || args[0] == "images" && strings.Contains(stdout, "operator/worker:v1") {
			t.Errorf("%s --no-infer found the Worker's image by name:\n%s", args[0], stdout)
		}
		if !strings.Contains(stdout, "operator/manager:v1") {
			t.Errorf("%s --no-infer lost a pod spec's image:\n%s", args[0], stdout)
		}
	}
}

// TestImagesSuspects lists the strings that look like images where kmirror
// does not read, with an entry for the rules; pasted, the entries make
// kmirror read them, and they are no longer suspects.
func TestImagesSuspects(t *testing.T) {
	manifests := operatorInventory + `---
apiVersion: v1
kind: ConfigMap
metadata: {name: csi-images}
data:
  CSI_PLUGIN_IMAGE: quay.io/cephcsi/cephcsi:v3.14.0
  notes: see quay.io/cephcsi/cephcsi:v3.14.0 for details
`
	dir := writeFiles(t, map[string]string{"rules.yaml": operatorRules, "all.yaml": manifests})
	rulesFile, file := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "all.yaml")
	stdout, stderr, code := run(t, "", "images", "--suspects", "--rules", rulesFile, "-o", "json", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep struct {
		Suspects []struct {
			Document, Line           int
			Path, Image, List, Entry string
			Why                      string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range rep.Suspects {
		got = append(got, strings.Join([]string{s.Path, s.Image, s.List, s.Entry}, " "))
	}
	want := []string{
		"spec.template.spec.containers[0].args[0] quay.io/operator/worker:v1 imageValues {arg: --worker-image}",
		`data.CSI_PLUGIN_IMAGE quay.io/cephcsi/cephcsi:v3.14.0 imageFields {kind: ConfigMap, path: "data.CSI_PLUGIN_IMAGE"}`,
		"data.notes quay.io/cephcsi/cephcsi:v3.14.0  ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("suspects (-want +got):\n%s", diff)
	}
	if len(rep.Suspects) == 3 && (rep.Suspects[0].Document != 1 || rep.Suspects[0].Line != 10 || rep.Suspects[1].Document != 4 ||
		rep.Suspects[2].Why == "") {
		t.Errorf("suspects: %+v", rep.Suspects)
	}

	// The entries, pasted.
	pasted := strings.Replace(operatorRules, `imageValues: [{env: "*_SIDECAR_IMAGE"}]`,
		"imageValues:\n  - {env: \"*_SIDECAR_IMAGE\"}\n  - {arg: --worker-image}\n  imageFields:\n  - {kind: ConfigMap, path: \"data.CSI_PLUGIN_IMAGE\"}", 1)
	if err := os.WriteFile(rulesFile, []byte(pasted), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, _ = run(t, "", "images", "--suspects", "--rules", rulesFile, file)
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "data.notes") ||
		!strings.Contains(lines[1], "none: inside a longer string") {
		t.Errorf("suspects once the entries are pasted:\n%s%s", stdout, stderr)
	}
	stdout, _, _ = run(t, "", "rewrite", "--rules", rulesFile, file)
	for _, s := range []string{"--worker-image=m.example.com/quay/operator/worker:v1", "CSI_PLUGIN_IMAGE: m.example.com/quay/cephcsi/cephcsi:v3.14.0",
		"notes: see quay.io/cephcsi/cephcsi:v3.14.0 for details"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("the rewrite with the pasted entries has no %q:\n%s", s, stdout)
		}
	}

	if _, stderr, code := run(t, "", "images", "--suspects", "-o", "mirror-list", file); code != 2 || !strings.Contains(stderr, "--suspects") {
		t.Errorf("--suspects -o mirror-list: exit %d, %s", code, stderr)
	}
}

// TestSyncAndVerifyFoundByName: sync copies, and verify checks, the image
// of a field found by name and a parameter's default, as the rewrite
// points at them; not a templated tag, which no job can copy; and with
// --no-infer, not the field found by name.
func TestSyncAndVerifyFoundByName(t *testing.T) {
	host, rules := syncRegistry(t)
	manifests := "apiVersion: example.com/v1\nkind: Worker\nmetadata: {name: w}\nspec:\n  image: " + host + "/src/app:1\n" +
		"---\napiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: t}\nspec:\n  params: [{name: builder, default: " + host + "/src/app:1}]\n" +
		"  steps:\n  - {name: a, image: $(params.builder)}\n  - {name: b, image: '" + host + "/src/app:$(params.tag)'}\n"
	flags := []string{"--rules", rules, "--plain-http", host}
	out, errOut, code := run(t, manifests, append([]string{"sync"}, flags...)...)
	if code != 0 || !strings.HasPrefix(out, "copied 1 image (") {
		t.Errorf("sync: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, manifests, append([]string{"verify", "-o", "json"}, flags...)...)
	var rep verifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var got []string
	for _, img := range rep.Images {
		got = append(got, img.Path+" "+img.Pulled+" "+string(img.Verdict))
	}
	want := []string{
		"spec.image " + host + "/mirror/app:1 present",
		"spec.params[0].default " + host + "/mirror/app:1 present",
		"spec.steps[1].image " + host + "/mirror/app:$(params.tag) error",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verify (-want +got):\n%s", diff)
	}
	out, errOut, code = run(t, manifests, append([]string{"verify", "-o", "json", "--no-infer"}, flags...)...)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if len(rep.Images) != 2 || rep.Images[0].Path != "spec.params[0].default" {
		t.Errorf("verify --no-infer: %+v, want the parameter's default and the templated tag only", rep.Images)
	}
}
