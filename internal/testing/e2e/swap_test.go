//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// swapFixture is a real kube-apiserver calling kmirror serve --swap-policy
// exists --copy-missing, a source registry and a mirror that requires
// basic auth, both real distribution registries.
type swapFixture struct {
	*registries
	c *cluster
	// rules is a directory laid out as the kubelet mounts a ConfigMap.
	rules *rulesMount
}

// rulesMount lays out a directory as the kubelet mounts a ConfigMap:
// rules.yaml -> ..data/rules.yaml, ..data -> ..<time>; update swaps
// ..data atomically to a new directory and removes the old one.
type rulesMount struct {
	dir, current string
	n            int
}

func (m *rulesMount) file() string { return filepath.Join(m.dir, "rules.yaml") }

func (m *rulesMount) update(t *testing.T, content string) {
	t.Helper()
	m.n++
	name := fmt.Sprintf("..2026_06_01_12_00_%02d.%09d", m.n, m.n)
	if err := os.Mkdir(filepath.Join(m.dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(m.dir, name, "rules.yaml"), content)
	tmp := filepath.Join(m.dir, "..data_tmp")
	if err := os.Symlink(name, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if m.current != "" {
		os.RemoveAll(filepath.Join(m.dir, m.current))
	} else if err := os.Symlink(filepath.Join("..data", "rules.yaml"), m.file()); err != nil {
		t.Fatal(err)
	}
	m.current = name
}

// rulesTo sends the source registry to a path of the mirror.
func (f *swapFixture) rulesTo(path string) string {
	return `apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
metadata:
  name: ` + path + `
spec:
  mirrors:
  - from: ` + f.src.Host + `/
    to: ` + f.mirror.Host + `/` + path + `/
`
}

// serve starts kmirror serve --swap-policy exists --copy-missing with the
// fixture's rules, CA and credentials, and registers it.
func (f *swapFixture) serve(t *testing.T, flags ...string) *webhook {
	t.Helper()
	w := startWebhookEnv(t, []string{"SSL_CERT_FILE=" + f.ca}, append([]string{
		"--rules=" + f.rules.file(), "--swap-policy=exists", "--copy-missing",
		"--registry-config=" + filepath.Join(f.dockerConfig, "config.json"),
	}, flags...)...)
	out, err := exec.Command(kmirrorBin, "manifests", "--webhook-url="+w.url, "--ca-file="+w.caFile, "--swap-policy=exists", "--copy-missing").Output()
	if err != nil {
		t.Fatalf("kmirror manifests: %v", err)
	}
	if !strings.Contains(string(out), "sideEffects: NoneOnDryRun") {
		t.Errorf("a webhook that copies does not declare side effects on dry runs only:\n%s", out)
	}
	f.c.mustKubectl(t, string(out), "apply", "-f", "-")
	return w
}

// probe waits until a dry run of a Pod with image stores want.
func (f *swapFixture) probe(t *testing.T, image, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, _ = f.c.kubectl("", "run", "probe", "--image="+image, "--dry-run=server", "-o=jsonpath={.spec.containers[0].image}")
		if got == want {
			return
		}
	}
	t.Fatalf("a Pod with %s got %q, want %q", image, got, want)
}

// run creates a Pod and returns its stored image and what kubectl printed
// on stderr: the warnings.
func (f *swapFixture) run(t *testing.T, pod, image string) (string, string) {
	t.Helper()
	_, stderr := f.c.kubectlStderr(t, "", "run", pod, "--image="+image)
	return f.c.image(t, "default", pod, ".spec.containers[0].image"), stderr
}

// took is how long kmirror took to answer the review of pod, from its log.
func took(t *testing.T, w *webhook, pod string) time.Duration {
	t.Helper()
	for _, line := range w.lines(t) {
		if line["msg"] == "review" && line["name"] == pod && line["operation"] == "CREATE" {
			return time.Duration(line["took"].(float64))
		}
	}
	t.Fatalf("no review of %s in the log:\n%s", pod, w.logs(t))
	return 0
}

// TestWebhookSwapExists: kmirror serve --swap-policy exists --copy-missing
// with a real kube-apiserver and real registries.
func TestWebhookSwapExists(t *testing.T) {
	f := &swapFixture{registries: startRegistries(t), c: startCluster(t, tool(t, "KMIRROR_KUBE_APISERVER")), rules: &rulesMount{dir: t.TempDir()}}
	src, mirror := f.src.Host, f.mirror.Host
	digests := map[string]string{}
	for ref, spec := range map[string]registrytest.Spec{"team/app:v1": listSpec, "team/app:v2": ociSpec, "team/tool:v1": oneSpec} {
		digests[ref] = f.push(t, src+"/"+ref, spec).String()
	}
	f.push(t, mirror+"/mirror/team/app:v1", listSpec)
	f.push(t, mirror+"/renamed/team/app:v1", listSpec)
	f.rules.update(t, f.rulesTo("mirror"))
	// A missing answer is remembered for an hour: only the copy can make
	// the next Pod go to the mirror.
	w := f.serve(t, "--missing-ttl=1h")
	f.probe(t, src+"/team/app:v1", mirror+"/mirror/team/app:v1")

	t.Run("in the mirror", func(t *testing.T) {
		img, stderr := f.run(t, "present", src+"/team/app:v1")
		if img != mirror+"/mirror/team/app:v1" || strings.Contains(stderr, "Warning") {
			t.Errorf("image %q, stderr %q; want the mirror, no warning", img, stderr)
		}
	})

	t.Run("not in the mirror", func(t *testing.T) {
		img, stderr := f.run(t, "missing", src+"/team/app:v2")
		want := "Warning: kmirror: " + mirror + "/mirror/team/app:v2 is not in the mirror yet; " + src + "/team/app:v2 is pulled from its source"
		if img != src+"/team/app:v2" || !strings.Contains(stderr, want) {
			t.Errorf("image %q, stderr %q; want the source and %q", img, stderr, want)
		}
	})

	t.Run("after the copy", func(t *testing.T) {
		f.probe(t, src+"/team/app:v2", mirror+"/mirror/team/app:v2")
		img, stderr := f.run(t, "copied", src+"/team/app:v2")
		if img != mirror+"/mirror/team/app:v2" || strings.Contains(stderr, "Warning") {
			t.Errorf("image %q, stderr %q; want the mirror, no warning", img, stderr)
		}
		got, raw, ok := f.skopeoRaw(t, mirror+"/mirror/team/app:v2")
		_, srcRaw, _ := f.skopeoRaw(t, src+"/team/app:v2")
		if !ok || got != digests["team/app:v2"] || string(raw) != string(srcRaw) {
			t.Errorf("skopeo reads the mirror's copy as %s, want the source's %s byte for byte", got, digests["team/app:v2"])
		}
		if !strings.Contains(w.logs(t), `"msg":"copied into the mirror"`) {
			t.Errorf("no log of the copy:\n%s", w.logs(t))
		}
	})

	t.Run("rules changed", func(t *testing.T) {
		f.rules.update(t, f.rulesTo("renamed"))
		// kmirror rereads the rules every 10s.
		f.probe(t, src+"/team/app:v1", mirror+"/renamed/team/app:v1")
		img, _ := f.run(t, "renamed", src+"/team/app:v1")
		if img != mirror+"/renamed/team/app:v1" {
			t.Errorf("image %q after the rules changed", img)
		}
		if !strings.Contains(w.logs(t), `"msg":"loaded rules","file":"`+f.rules.file()+`","name":"renamed"`) {
			t.Errorf("no log of the new rules:\n%s", w.logs(t))
		}
		f.rules.update(t, "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nspec: {mirrors: [{form: x/}]}\n")
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(w.logs(t), `"msg":"keeping the rules in use"`); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("a bad rules file was not reported:\n%s", w.logs(t))
			}
		}
		if img, _ := f.run(t, "kept", src+"/team/app:v1"); img != mirror+"/renamed/team/app:v1" {
			t.Errorf("image %q after a bad rules file, want the rules in use", img)
		}
		f.rules.update(t, f.rulesTo("renamed"))
	})

	t.Run("registry stopped", func(t *testing.T) {
		// A registry that hangs: its process is stopped, the kernel still
		// takes connections.
		if err := syscall.Kill(f.mirror.PID(), syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		img, stderr := f.run(t, "hung", src+"/team/tool:v1")
		elapsed := time.Since(start)
		syscall.Kill(f.mirror.PID(), syscall.SIGCONT)
		want := "Warning: kmirror: cannot check that " + mirror + "/renamed/team/tool:v1 is in the mirror (no answer from the registry within 1s); " + src + "/team/tool:v1 is pulled from its source (--on-check-error=source)"
		if img != src+"/team/tool:v1" || !strings.Contains(stderr, want) {
			t.Errorf("image %q, stderr %q; want the source and %q", img, stderr, want)
		}
		if d := took(t, w, "hung"); d < time.Second || d > 2*time.Second+200*time.Millisecond {
			t.Errorf("kmirror answered in %s; want the check's 1s, within the budget of 2s", d)
		}
		t.Logf("with the registry hung: kmirror answered in %s, kubectl run took %s", took(t, w, "hung"), elapsed)

		// A registry that is gone, and a webhook that sends Pods to the
		// mirror all the same.
		f.mirror.Stop()
		second := f.serve(t, "--on-check-error=mirror")
		f.probe(t, src+"/team/probe:1", mirror+"/renamed/team/probe:1")
		img, stderr = f.run(t, "gone", src+"/team/tool:v2")
		want = "Warning: kmirror: cannot check that " + mirror + "/renamed/team/tool:v2 is in the mirror ("
		if img != mirror+"/renamed/team/tool:v2" || !strings.Contains(stderr, want) || !strings.Contains(stderr, "connection refused") ||
			!strings.Contains(stderr, "); it is pulled from the mirror all the same (--on-check-error=mirror)") {
			t.Errorf("image %q, stderr %q; want the mirror and %q...", img, stderr, want)
		}
		if d := took(t, second, "gone"); d > 2*time.Second {
			t.Errorf("kmirror answered in %s, over the budget of 2s", d)
		}
		t.Logf("with the registry gone: kmirror answered in %s", took(t, second, "gone"))
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(w.metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Each a metric and its value; [1-9] is any count but zero.
		for _, want := range []string{
			`kmirror_mirror_checks_total{result="present"} [1-9]`,
			`kmirror_mirror_checks_total{result="missing"} 1`,
			`kmirror_mirror_checks_total{result="error"} [1-9]`,
			`kmirror_mirror_check_cache_total{result="hit"} [1-9]`,
			`kmirror_mirror_check_duration_seconds_count [1-9]`,
			`kmirror_mirror_copies_total{result="copied"} 1`,
			`kmirror_mirror_copy_queue_depth 0`,
			`kmirror_mirror_copied_bytes_total [1-9]`,
			`kmirror_admission_images_from_source_total{dry_run="false",reason="missing"} 1`,
			`kmirror_admission_images_from_source_total{dry_run="false",reason="check_error"} 1`,
			`kmirror_rules_reload_failures_total 1`,
		} {
			re := "(?m)^" + regexp.QuoteMeta(want) + "$"
			if prefix, ok := strings.CutSuffix(want, "[1-9]"); ok {
				re = "(?m)^" + regexp.QuoteMeta(prefix) + "[1-9][0-9.e+]*$"
			}
			if !regexp.MustCompile(re).Match(metrics) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})

	t.Run("in-cluster manifests pass server dry run", func(t *testing.T) {
		out, err := exec.Command(kmirrorBin, "manifests", "--swap-policy=exists", "--copy-missing", "--registry-secret=mirror-creds").Output()
		if err != nil {
			t.Fatalf("kmirror manifests: %v", err)
		}
		f.c.mustKubectl(t, "", "create", "namespace", "kmirror-system")
		f.c.mustKubectl(t, "", "create", "secret", "docker-registry", "mirror-creds", "-n", "kmirror-system",
			"--docker-server="+mirror, "--docker-username="+mirrorUser, "--docker-password="+mirrorPassword)
		applied := f.c.mustKubectl(t, string(out), "apply", "--dry-run=server", "-f", "-")
		for _, kind := range []string{"deployment.apps/kmirror", "mutatingwebhookconfiguration.admissionregistration.k8s.io/kmirror"} {
			if !strings.Contains(applied, kind+" ") {
				t.Errorf("kubectl apply --dry-run=server did not take %s:\n%s", kind, applied)
			}
		}
		// The Secret kubectl makes is what kmirror serve reads.
		data := f.c.mustKubectl(t, "", "get", "secret", "mirror-creds", "-n", "kmirror-system", `-o=jsonpath={.data.\.dockerconfigjson}`)
		config := filepath.Join(t.TempDir(), "config.json")
		decoded, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, config, string(decoded))
		if out, errOut, code := f.kmirror(t, "", "serve", "--tls-cert-file=x", "--tls-key-file=y", "--swap-policy=exists", "--registry-config="+config); code != 2 || !strings.Contains(errOut, "reading the TLS certificate") {
			t.Errorf("kmirror serve with the Secret's config: exit %d, %s%s; want it past the credentials, to the missing certificate", code, out, errOut)
		}
	})
}
