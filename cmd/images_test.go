package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// imagesInventory holds an image of every kind of decision.
const imagesInventory = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      initContainers:
      - {name: init, image: direct.to/busybox:1.36}
      containers:
      - {name: web, image: nginx:1.25}
      - {name: proxy, image: ` + ecr + `/quay/envoy/envoy:v1}
      - {name: app, image: ghcr.io/acme/app:2}
      - {name: bad, image: "Nginx"}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: a, image: nginx:1.25}
  - {name: b, image: quay.io/coreos/etcd:v3.5.0}
`

func TestImagesTable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(file, []byte(imagesInventory), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, "", "images", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := [][]string{
		{"LOCATION", "OBJECT", "FIELD", "IMAGE", "MIRROR", "RULE", "FOUND"},
		{file + ":8", "Deployment shop/web", "spec.template.spec.initContainers[0].image", "direct.to/busybox:1.36", "busybox:1.36", "escaped", "builtin"},
		{file + ":10", "Deployment shop/web", "spec.template.spec.containers[0].image", "nginx:1.25", ecr + "/dockerhub/nginx:1.25", "docker.io/", "builtin"},
		{file + ":11", "Deployment shop/web", "spec.template.spec.containers[1].image", ecr + "/quay/envoy/envoy:v1", ecr + "/quay/envoy/envoy:v1", "already mirrored", "builtin"},
		{file + ":12", "Deployment shop/web", "spec.template.spec.containers[2].image", "ghcr.io/acme/app:2", "ghcr.io/acme/app:2", "no rule", "builtin"},
		{file + ":13", "Deployment shop/web", "spec.template.spec.containers[3].image", "Nginx", "Nginx", "invalid", "builtin"},
		{file + ":20", "Pod p", "spec.containers[0].image", "nginx:1.25", ecr + "/dockerhub/nginx:1.25", "docker.io/", "builtin"},
		{file + ":21", "Pod p", "spec.containers[1].image", "quay.io/coreos/etcd:v3.5.0", ecr + "/quay/coreos/etcd:v3.5.0", "quay.io/", "builtin"},
	}
	if diff := cmp.Diff(alignedTable(rows), stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if want := "warning: " + file + `: document 1 (Deployment shop/web), line 13: spec.template.spec.containers[3].image: invalid image reference "Nginx"`; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr %q, want the warning %q", stderr, want)
	}
}

// alignedTable aligns rows as the images table does: columns two spaces apart.
func alignedTable(rows [][]string) string {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len(c)+2))
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

var ansiCodes = regexp.MustCompile("\x1b\\[[0-9;]*m")

func TestImagesTableColor(t *testing.T) {
	plain, _, _ := run(t, imagesInventory, "images", "--color", "never")
	colored, _, _ := run(t, imagesInventory, "images", "--color", "always")
	if strings.Contains(plain, "\x1b[") {
		t.Errorf("--color never: escape codes in\n%s", plain)
	}
	for _, want := range []string{"\x1b[1mLOCATION\x1b[22m", "\x1b[32m" + ecr + "/dockerhub/nginx:1.25\x1b[0m", "\x1b[33mno rule\x1b[0m", "\x1b[31minvalid\x1b[0m", "\x1b[36mescaped\x1b[0m"} {
		if !strings.Contains(colored, want) {
			t.Errorf("--color always: no %q in\n%s", want, colored)
		}
	}
	// Colour codes do not move the columns.
	if diff := cmp.Diff(plain, ansiCodes.ReplaceAllString(colored, "")); diff != "" {
		t.Errorf("coloured table without its codes (-plain +coloured):\n%s", diff)
	}
}

func TestImagesJSON(t *testing.T) {
	stdout, _, code := run(t, imagesInventory, "images", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	type object struct{ Kind, Namespace, Name string }
	type entry struct {
		File, Path, Image, Result, Action, Rule, Reason string
		Document, Line                                  int
		Object                                          object
		Found                                           string
		UsedBy                                          []string
	}
	var rep struct {
		Images   []entry
		Warnings []struct {
			File, Path, Image, Message string
			Document, Line             int
			Object                     object
		}
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("not the JSON report: %v\n%s", err, stdout)
	}
	web := object{"Deployment", "shop", "web"}
	want := []entry{
		{"stdin", "spec.template.spec.initContainers[0].image", "direct.to/busybox:1.36", "busybox:1.36", "escaped", "", "", 1, 8, web, "builtin", nil},
		{"stdin", "spec.template.spec.containers[0].image", "nginx:1.25", ecr + "/dockerhub/nginx:1.25", "mirrored", "docker.io/", "", 1, 10, web, "builtin", nil},
		{"stdin", "spec.template.spec.containers[1].image", ecr + "/quay/envoy/envoy:v1", ecr + "/quay/envoy/envoy:v1", "already mirrored", "quay.io/", "", 1, 11, web, "builtin", nil},
		{"stdin", "spec.template.spec.containers[2].image", "ghcr.io/acme/app:2", "ghcr.io/acme/app:2", "no rule", "", "", 1, 12, web, "builtin", nil},
		{"stdin", "spec.template.spec.containers[3].image", "Nginx", "Nginx", "invalid", "", `invalid image reference "Nginx": invalid reference format: repository name (library/Nginx) must be lowercase`, 1, 13, web, "builtin", nil},
		{"stdin", "spec.containers[0].image", "nginx:1.25", ecr + "/dockerhub/nginx:1.25", "mirrored", "docker.io/", "", 2, 20, object{"Pod", "", "p"}, "builtin", nil},
		{"stdin", "spec.containers[1].image", "quay.io/coreos/etcd:v3.5.0", ecr + "/quay/coreos/etcd:v3.5.0", "mirrored", "quay.io/", "", 2, 21, object{"Pod", "", "p"}, "builtin", nil},
	}
	if diff := cmp.Diff(want, rep.Images); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if len(rep.Warnings) != 1 || rep.Warnings[0].Image != "Nginx" || rep.Warnings[0].Line != 13 ||
		!strings.HasPrefix(rep.Warnings[0].Message, `invalid image reference "Nginx"`) {
		t.Errorf("warnings: %+v", rep.Warnings)
	}

	stdout, _, _ = run(t, "kind: Service\n", "images", "-o", "json")
	if want := "{\n  \"images\": [],\n  \"warnings\": []\n}\n"; stdout != want {
		t.Errorf("no images: %q, want %q", stdout, want)
	}
}

func TestImagesMirrorList(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(imagesInventory), 0o644); err != nil {
		t.Fatal(err)
	}
	more := "kind: Pod\nspec:\n  containers: [{image: quay.io/coreos/etcd:v3.5.0}, {image: docker.io/library/nginx:1.25}, {image: k8s.gcr.io/pause:3.1}]\n"
	if err := os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(more), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := run(t, "", "images", "-o", "mirror-list", dir)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	// Sorted, each once; docker.io/library/nginx:1.25 is another entry than
	// nginx:1.25, as the mirror holds each under the name it was written by.
	want := "docker.io/library/nginx:1.25\nk8s.gcr.io/pause:3.1\nnginx:1.25\nquay.io/coreos/etcd:v3.5.0\n"
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("mirror list (-want +got):\n%s", diff)
	}
}

func TestImagesErrors(t *testing.T) {
	tests := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"unknown format", "kind: Service\n", []string{"images", "-o", "yaml"}, `kmirror: --output must be table, json, mirror-list, not "yaml"` + "\n"},
		{"malformed YAML", "kind: Pod\n---\nkind: [\n", []string{"images"}, "kmirror: stdin: document 2, line 3:"},
		{"missing rules", "kind: Service\n", []string{"images", "--rules", "no-such-rules"}, `kmirror: reading rules: no file "no-such-rules"`},
		{"missing file", "", []string{"images", "no-such-dir/app.yaml"}, "kmirror: reading manifest: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, tc.stdin, tc.args...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// readmePipelines returns the README's pipelines section, read from the
// repository's root, where the test runs.
func readmePipelines(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start, end := strings.Index(readme, "<!-- pipelines:start -->"), strings.Index(readme, "<!-- pipelines:end -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no pipelines section")
	}
	return readme[start:end]
}

// TestReadmePipelinesConsole runs each console example of the README's
// pipelines section, "$ kmirror ..." then its output, and compares.
func TestReadmePipelinesConsole(t *testing.T) {
	t.Chdir("..")
	blocks := regexp.MustCompile("(?s)```console\n\\$ (.*?)\n(.*?)```\n").FindAllStringSubmatch(readmePipelines(t), -1)
	if len(blocks) < 3 {
		t.Fatalf("%d console examples in the pipelines section, want the 3 it had", len(blocks))
	}
	for _, b := range blocks {
		command, want := b[1], b[2]
		t.Run(command, func(t *testing.T) {
			args := strings.Fields(command)
			if args[0] != "kmirror" {
				t.Fatalf("a console example runs %q; only kmirror runs here", args[0])
			}
			stdout, stderr, code := run(t, "", args[1:]...)
			if code == 2 {
				t.Fatalf("exit 2: %s", stderr)
			}
			if diff := cmp.Diff(want, stdout); diff != "" {
				t.Errorf("output (-README +got):\n%s", diff)
			}
		})
	}
}

// TestReadmePipelinesFiles: a YAML example of the pipelines section that
// names a file under testdata/ shows that file, but for its opening
// comments, so the examples are the ones the end-to-end tests run.
func TestReadmePipelinesFiles(t *testing.T) {
	t.Chdir("..")
	blocks := regexp.MustCompile("(?s)```yaml\n# (testdata/\\S+)\n(.*?)```\n").FindAllStringSubmatch(readmePipelines(t), -1)
	if len(blocks) < 3 {
		t.Fatalf("%d file examples in the pipelines section, want the 3 it had", len(blocks))
	}
	for _, b := range blocks {
		path, want := b[1], b[2]
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := string(data)
			for strings.HasPrefix(got, "#") {
				_, got, _ = strings.Cut(got, "\n")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("README (-README +file):\n%s", diff)
			}
		})
	}
}
