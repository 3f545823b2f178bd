//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readmeHelm4Plugin makes and installs the post-renderer plugin of the
// README's Helm 4 section, as it shows it.
const readmeHelm4Plugin = `mkdir -p kmirror-postrenderer
cat > kmirror-postrenderer/plugin.yaml <<'EOF'
apiVersion: v1
type: postrenderer/v1
name: kmirror
version: 0.1.0
runtime: subprocess
runtimeConfig:
  platformCommand:
  - command: kmirror
EOF
helm plugin install ./kmirror-postrenderer`

// helm4 is a real Helm 4 with homes of its own.
type helm4 struct {
	bin string
	env []string
}

func newHelm4(t *testing.T) *helm4 {
	t.Helper()
	h := &helm4{bin: tool(t, "KMIRROR_HELM4"), env: helmHomes(t)}
	out, stderr, err := h.run(t, t.TempDir(), "helm version")
	if err != nil || !strings.Contains(out, `Version:"v4.`) {
		t.Fatalf("KMIRROR_HELM4 is not Helm 4: %s%s%v", out, stderr, err)
	}
	return h
}

// withPlugin is a Helm 4 where the README's plugin is installed, from a
// directory that outlives the test's commands, since helm links it.
func withPlugin(t *testing.T) *helm4 {
	t.Helper()
	h := newHelm4(t)
	inPipelinesReadme(t, readmeHelm4Plugin)
	if out, stderr, err := h.run(t, t.TempDir(), readmeHelm4Plugin); err != nil {
		t.Fatalf("installing the README's plugin: %v\n%s%s", err, out, stderr)
	}
	return h
}

func (h *helm4) run(t *testing.T, dir, command string) (stdout, stderr string, err error) {
	t.Helper()
	return runShell(t, dir, command, h.bin, h.env)
}

// runReadme runs a command of the README from the repository's root, and
// fails the test unless the README shows it and it succeeds.
func (h *helm4) runReadme(t *testing.T, command string) string {
	t.Helper()
	inPipelinesReadme(t, command)
	stdout, stderr, err := h.run(t, pipelineRoot(), command)
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, stderr)
	}
	return stdout
}

// TestHelm4PostRenderer: Helm 4 post-renders hooks too, so that the
// hook Job's image is mirrored with the rest.
func TestHelm4PostRenderer(t *testing.T) {
	h := withPlugin(t)
	out := h.runReadme(t, readmeHelmTemplate)
	if diff := cmp.Diff(helmChartImages(helmDefaultMirror, helmDefaultMirror), pipelineImages(t, out)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, "# Source: demo/templates/service.yaml\n# A ConfigMap that mentions an image: never rewritten.\n") ||
		!strings.Contains(out, "data:\n  image: nginx:1.25\n") {
		t.Errorf("the post-renderer changed more than images:\n%s", out)
	}
}

func TestHelm4PostRendererArgs(t *testing.T) {
	h := withPlugin(t)
	out := h.runReadme(t, readmeHelmArgs)
	if diff := cmp.Diff(helmChartImages(helmInHouseMirror, helmInHouseMirror), pipelineImages(t, out)); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

// TestHelm4Install: an install post-renders the release's manifest and
// its hooks, which helm keeps apart.
func TestHelm4Install(t *testing.T) {
	h := withPlugin(t)
	command := "helm install demo testdata/charts/demo --dry-run=client --post-renderer kmirror --post-renderer-args=--rules=testdata/charts/mirror-rules.yaml -o json"
	stdout, stderr, err := h.run(t, pipelineRoot(), command)
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, stderr)
	}
	var release struct {
		Manifest string
		Hooks    []struct{ Name, Kind, Manifest string }
	}
	if err := json.Unmarshal([]byte(stdout), &release); err != nil {
		t.Fatalf("helm's release: %v\n%s", err, stdout)
	}
	if len(release.Hooks) != 1 || release.Hooks[0].Kind != "Job" || release.Hooks[0].Name != "demo-migrate" {
		t.Fatalf("hooks %+v, want the Job demo-migrate", release.Hooks)
	}
	got := pipelineImages(t, release.Manifest+"\n---\n"+release.Hooks[0].Manifest)
	if diff := cmp.Diff(helmChartImages(helmInHouseMirror, helmInHouseMirror), got); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

// TestHelm4NeedsThePlugin: Helm 4 takes a plugin's name, not a program,
// as the README says: kmirror on PATH is not enough.
func TestHelm4NeedsThePlugin(t *testing.T) {
	h := newHelm4(t)
	stdout, stderr, err := h.run(t, pipelineRoot(), readmeHelmTemplate)
	if err == nil {
		t.Fatalf("helm 4 post-rendered with no plugin:\n%s", stdout)
	}
	if want := "plugin: {Name:kmirror Type:postrenderer/v1} not found"; !strings.Contains(stderr, want) {
		t.Errorf("helm's stderr:\n%s\nwant %q", stderr, want)
	}
}

// TestHelm4PostRendererFails: a failing kmirror stops helm, which says
// which plugin failed but not kmirror's message, as the README says; the
// same render piped into kmirror shows it.
func TestHelm4PostRendererFails(t *testing.T) {
	h := withPlugin(t)
	command := readmeHelmTemplate + " --post-renderer-args=--rules=no-such-rules.yaml"
	stdout, stderr, err := h.run(t, pipelineRoot(), command)
	if err == nil {
		t.Fatalf("helm succeeded with missing rules:\n%s", stdout)
	}
	if stdout != "" {
		t.Errorf("helm printed a render:\n%s", stdout)
	}
	kmirrorSays := `kmirror: reading rules: no file "no-such-rules.yaml" and no preset of that name`
	if want := `failed to invoke post-renderer plugin "kmirror"`; !strings.Contains(stderr, want) || strings.Contains(stderr, kmirrorSays) {
		t.Errorf("helm's stderr:\n%s\nwant %q and not kmirror's message", stderr, want)
	}
	_, stderr, err = h.run(t, pipelineRoot(), "helm template demo testdata/charts/demo | kmirror --rules=no-such-rules.yaml")
	if err == nil || !strings.Contains(stderr, kmirrorSays) {
		t.Errorf("the piped render: %v\n%s\nwant kmirror's message", err, stderr)
	}
}
