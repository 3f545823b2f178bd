//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/manifest"
)

// The commands of the README's pipelines section, run here as written, from
// the repository's root, with kmirror, kustomize and helm on PATH.
const (
	readmeKustomizeAnnotation   = "kustomize build --enable-alpha-plugins --enable-exec testdata/kustomize/annotation"
	readmeKustomizeTransformers = "kustomize build --enable-alpha-plugins --enable-exec testdata/kustomize/transformers"
	readmeKustomizeArgs         = "kustomize build --enable-alpha-plugins --enable-exec testdata/kustomize/args"
	readmeKustomizeBad          = "kustomize build --enable-alpha-plugins --enable-exec testdata/kustomize/bad-config"
	readmeKustomizeFnRun        = "kustomize fn run --enable-exec --dry-run --results-dir results testdata/kustomize/fn-run"
	readmeHelmTemplate          = "helm template demo testdata/charts/demo --post-renderer kmirror"
	readmeHelmArgs              = "helm template demo testdata/charts/demo --post-renderer kmirror --post-renderer-args=--rules=testdata/charts/mirror-rules.yaml"
	readmeHelmPipe              = "helm template demo testdata/charts/demo | kmirror"
)

const pipelineECR = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn"

// pipelineRoot is the repository's root, where the README's commands run.
func pipelineRoot() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..")
}

// runPipeline runs command with sh in dir, with kmirror, kustomize and
// Helm 3 first on PATH, and returns what it printed; err is the exit error.
func runPipeline(t *testing.T, dir, command string) (stdout, stderr string, err error) {
	t.Helper()
	return runShell(t, dir, command, tool(t, "KMIRROR_HELM"), helmHomes(t))
}

// helmHomes are fresh directories for helm's configuration, cache, data
// and plugins, so that helm keeps no state of the machine's user between
// tests.
func helmHomes(t *testing.T) []string {
	t.Helper()
	data := t.TempDir()
	return []string{"HELM_CONFIG_HOME=" + t.TempDir(), "HELM_CACHE_HOME=" + t.TempDir(),
		"HELM_DATA_HOME=" + data, "HELM_PLUGINS=" + filepath.Join(data, "plugins")}
}

// runShell runs command with sh in dir, with kmirror, kustomize and the
// helm binary first on PATH and env added to the environment.
func runShell(t *testing.T, dir, command, helm string, env []string) (stdout, stderr string, err error) {
	t.Helper()
	kustomize := tool(t, "KMIRROR_KUSTOMIZE")
	if filepath.Base(kustomize) != "kustomize" || filepath.Base(helm) != "helm" {
		t.Fatal("KMIRROR_KUSTOMIZE and KMIRROR_HELM* must name binaries called kustomize and helm, as the README runs them")
	}
	path := []string{filepath.Dir(kmirrorBin), filepath.Dir(kustomize), filepath.Dir(helm), os.Getenv("PATH")}
	cmd := exec.Command("sh", "-c", "set -e; "+command)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "PATH="+strings.Join(path, string(os.PathListSeparator))), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// runReadmeCommand runs a command that the README shows, and fails the
// test unless the README shows it and it succeeds.
func runReadmeCommand(t *testing.T, command string) string {
	t.Helper()
	inPipelinesReadme(t, command)
	stdout, stderr, err := runPipeline(t, pipelineRoot(), command)
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, stderr)
	}
	return stdout
}

// inPipelinesReadme fails the test unless the README's pipelines section
// shows command, or another text, as a line or lines of its own, so that
// what the README says is what the tests run and see.
func inPipelinesReadme(t *testing.T, text string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(pipelineRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	start, end := strings.Index(readme, "<!-- pipelines:start -->"), strings.Index(readme, "<!-- pipelines:end -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no pipelines section")
	}
	if !strings.Contains(readme[start:end], "\n"+text+"\n") {
		t.Errorf("the README's pipelines section does not show:\n%s", text)
	}
}

// pipelineImages returns the image values of a stream of manifests, keyed by
// "Kind namespace/name field".
func pipelineImages(t *testing.T, stream string) map[string]string {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(stream))
	out := map[string]string{}
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, stream)
		}
		if len(doc.Content) == 0 {
			continue
		}
		fields, err := manifest.Images(doc.Content[0])
		if err != nil {
			t.Fatalf("output: %v\n%s", err, stream)
		}
		for _, f := range fields {
			out[f.Object.String()+" "+f.Path.String()] = f.Value()
		}
	}
}

// kustomizeBaseImages are the images of testdata/kustomize/base, mirrored by m.
func kustomizeBaseImages(prefix string, m func(string) string) map[string]string {
	return map[string]string{
		"Deployment " + prefix + "web spec.template.spec.initContainers[0].image":              "busybox:1.36",
		"Deployment " + prefix + "web spec.template.spec.containers[0].image":                  m("nginx:1.25"),
		"Deployment " + prefix + "web spec.template.spec.containers[1].image":                  m("registry.k8s.io/metrics-server/metrics-server:v0.7.1"),
		"CronJob " + prefix + "report spec.jobTemplate.spec.template.spec.containers[0].image": m("quay.io/prometheus/busybox:latest"),
	}
}

// kustomizeMirror maps images as the rules in the kustomize examples do, with
// the registries each mirrors.
func kustomizeMirror(registries ...string) func(string) string {
	return func(img string) string {
		for _, r := range registries {
			switch {
			case r == "docker.io/" && !strings.Contains(strings.Split(img, "/")[0], "."):
				return "mirror.example.com/hub/" + img
			case strings.HasPrefix(img, r):
				name := map[string]string{"quay.io/": "quay/", "registry.k8s.io/": "k8s/"}[r]
				return "mirror.example.com/" + name + strings.TrimPrefix(img, r)
			}
		}
		return img
	}
}

func TestKustomizeAnnotationForm(t *testing.T) {
	out := runReadmeCommand(t, readmeKustomizeAnnotation)
	// kustomize's own images: and namespace: run first; kmirror mirrors
	// what they produce.
	want := kustomizeBaseImages("shop/", kustomizeMirror("docker.io/", "quay.io/", "registry.k8s.io/"))
	want["Deployment shop/web spec.template.spec.containers[0].image"] = "mirror.example.com/hub/nginx:1.27"
	if diff := cmp.Diff(want, pipelineImages(t, out)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if strings.Contains(out, "annotations:") {
		t.Errorf("the output carries annotations that neither the base nor kustomize put there:\n%s", out)
	}
}

func TestKustomizeTransformersForm(t *testing.T) {
	out := runReadmeCommand(t, readmeKustomizeTransformers)
	want := kustomizeBaseImages("", kustomizeMirror("registry.k8s.io/"))
	if diff := cmp.Diff(want, pipelineImages(t, out)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

func TestKustomizeRulesInArgs(t *testing.T) {
	out := runReadmeCommand(t, readmeKustomizeArgs)
	want := kustomizeBaseImages("", kustomizeMirror("quay.io/"))
	if diff := cmp.Diff(want, pipelineImages(t, out)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

func TestKustomizeBadFunctionConfig(t *testing.T) {
	inPipelinesReadme(t, readmeKustomizeBad)
	stdout, stderr, err := runPipeline(t, pipelineRoot(), readmeKustomizeBad)
	if err == nil {
		t.Fatalf("kustomize build succeeded with a bad functionConfig:\n%s", stdout)
	}
	want := `kmirror: functionConfig MirrorRules typo, line 12: spec.mirrors[0]: unknown field "form" (known: [from to])` + "\n"
	if !strings.Contains(stderr, want) {
		t.Errorf("kustomize's stderr:\n%s\nwant kmirror's message:\n%s", stderr, want)
	}
	if stdout != "" {
		t.Errorf("kustomize printed a build: %s", stdout)
	}
}

// TestKustomizeFnRun runs kmirror where kustomize finds it by the
// annotation of its functionConfig, and reads the results kustomize writes.
func TestKustomizeFnRun(t *testing.T) {
	inPipelinesReadme(t, readmeKustomizeFnRun)
	// --results-dir must exist; it is relative, so run from a copy.
	dir := t.TempDir()
	copyPipelineDir(t, filepath.Join(pipelineRoot(), "testdata", "kustomize", "fn-run"), filepath.Join(dir, "testdata", "kustomize", "fn-run"))
	if err := os.Mkdir(filepath.Join(dir, "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runPipeline(t, dir, readmeKustomizeFnRun)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := map[string]string{
		"Pod tools/debug spec.containers[0].image": pipelineECR + "/gcr/google_containers/coredns:1.3.1",
		"Pod tools/debug spec.containers[1].image": "Busybox:1.36",
	}
	if diff := cmp.Diff(want, pipelineImages(t, stdout)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	// kustomize fn run keeps comments, unlike kustomize build; so does
	// kmirror.
	if line := "image: " + pipelineECR + "/gcr/google_containers/coredns:1.3.1 # mirrored, and the comment stays\n"; !strings.Contains(stdout, line) {
		t.Errorf("no line %q in:\n%s", line, stdout)
	}
	data, err := os.ReadFile(filepath.Join(dir, "results", "results-0.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The README shows this file as it is.
	inPipelinesReadme(t, strings.TrimSuffix(string(data), "\n"))
	var results framework.Results
	if err := yaml.Unmarshal(data, &results); err != nil {
		t.Fatalf("results: %v\n%s", err, data)
	}
	wantResults := framework.Results{{
		Message:     `invalid image reference "Busybox:1.36": invalid reference format: repository name (library/Busybox) must be lowercase`,
		Severity:    framework.Warning,
		ResourceRef: &yaml.ResourceIdentifier{TypeMeta: yaml.TypeMeta{APIVersion: "v1", Kind: "Pod"}, NameMeta: yaml.NameMeta{Name: "debug", Namespace: "tools"}},
		Field:       &framework.Field{Path: "spec.containers[1].image", CurrentValue: "Busybox:1.36"},
		File:        &framework.File{Path: "pod.yaml"},
	}}
	if diff := cmp.Diff(wantResults, results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr, "kmirror: [warning] v1/Pod/tools/debug spec.containers[1].image: invalid image reference") {
		t.Errorf("no warning on stderr:\n%s", stderr)
	}
}

func copyPipelineDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// helmChartImages are the images of testdata/charts/demo released as "demo",
// mirrored by m; the hook's is mirrored by hook.
func helmChartImages(m, hook func(string) string) map[string]string {
	return map[string]string{
		"Deployment demo-web spec.template.spec.containers[0].image":                  m("nginx:1.25"),
		"Deployment demo-web spec.template.spec.containers[1].image":                  m("gcr.io/google-containers/exechealthz:1.0"),
		"CronJob demo-worker spec.jobTemplate.spec.template.spec.containers[0].image": m("registry.k8s.io/kubectl:v1.30.0"),
		"StatefulSet demo-db spec.template.spec.initContainers[0].image":              "busybox:1.36",
		"StatefulSet demo-db spec.template.spec.initContainers[1].image":              m("k8s.gcr.io/coredns:1.3.1"),
		"StatefulSet demo-db spec.template.spec.containers[0].image":                  m("quay.io/sclorg/postgresql-15-c9s:latest"),
		"StatefulSet demo-db spec.template.spec.containers[1].image":                  m("bitnami/postgres-exporter:0.15.0"),
		"Job demo-migrate spec.template.spec.containers[0].image":                     hook("quay.io/sclorg/postgresql-15-c9s:latest"),
	}
}

// helmDefaultMirror maps the chart's images as the default rules do.
func helmDefaultMirror(img string) string {
	for from, to := range map[string]string{
		"gcr.io/google-containers/": "gcr/google_containers/",
		"registry.k8s.io/":          "gcr/google_containers/",
		"k8s.gcr.io/":               "gcr/google_containers/",
		"quay.io/":                  "quay/",
	} {
		if strings.HasPrefix(img, from) {
			return pipelineECR + "/" + to + strings.TrimPrefix(img, from)
		}
	}
	return pipelineECR + "/dockerhub/" + img
}

// helmInHouseMirror maps the chart's images as testdata/charts/mirror-rules.yaml
// does.
func helmInHouseMirror(img string) string {
	for from, to := range map[string]string{
		"gcr.io/":          "gcr/",
		"registry.k8s.io/": "k8s/",
		"k8s.gcr.io/":      "k8s/",
		"quay.io/":         "quay/",
	} {
		if strings.HasPrefix(img, from) {
			return "mirror.example.com/" + to + strings.TrimPrefix(img, from)
		}
	}
	return "mirror.example.com/hub/" + img
}

func helmKeep(img string) string { return img }

// TestHelmPostRenderer: Helm 3 post-renders every rendered manifest, but
// not hooks, whose image stays as written.
func TestHelmPostRenderer(t *testing.T) {
	out := runReadmeCommand(t, readmeHelmTemplate)
	if diff := cmp.Diff(helmChartImages(helmDefaultMirror, helmKeep), pipelineImages(t, out)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, "# Source: demo/templates/service.yaml\n# A ConfigMap that mentions an image: never rewritten.\n") ||
		!strings.Contains(out, "data:\n  image: nginx:1.25\n") {
		t.Errorf("the post-renderer changed more than images:\n%s", out)
	}
}

func TestHelmPostRendererArgs(t *testing.T) {
	out := runReadmeCommand(t, readmeHelmArgs)
	if diff := cmp.Diff(helmChartImages(helmInHouseMirror, helmKeep), pipelineImages(t, out)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

// TestHelmValues sets the web image through values, as a user of a chart
// does.
func TestHelmValues(t *testing.T) {
	command := readmeHelmTemplate + " --set image.repository=quay.io/org/web --set image.tag=2.0"
	stdout, stderr, err := runPipeline(t, pipelineRoot(), command)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := helmChartImages(helmDefaultMirror, helmKeep)
	want["Deployment demo-web spec.template.spec.containers[0].image"] = pipelineECR + "/quay/org/web:2.0"
	if diff := cmp.Diff(want, pipelineImages(t, stdout)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

// TestHelmPipe: a pipe after helm template rewrites hooks too.
func TestHelmPipe(t *testing.T) {
	out := runReadmeCommand(t, readmeHelmPipe)
	if diff := cmp.Diff(helmChartImages(helmDefaultMirror, helmDefaultMirror), pipelineImages(t, out)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

func TestHelmPostRendererFails(t *testing.T) {
	command := readmeHelmTemplate + " --post-renderer-args=--rules=no-such-rules.yaml"
	stdout, stderr, err := runPipeline(t, pipelineRoot(), command)
	if err == nil {
		t.Fatalf("helm succeeded with missing rules:\n%s", stdout)
	}
	want := `kmirror: reading rules: no file "no-such-rules.yaml" and no preset of that name`
	if !strings.Contains(stderr, want) {
		t.Errorf("helm's stderr:\n%s\nwant kmirror's message %q", stderr, want)
	}
}
