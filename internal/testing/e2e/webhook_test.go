//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kmirror.dev/kmirror/pkg/certs"
)

const webhookMirror = "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn"

// webhook is a `kmirror serve` process on 127.0.0.1.
type webhook struct {
	url, metricsURL string
	caFile, logPath string
	cmd             *exec.Cmd
	// done is closed when kmirror has exited, with waitErr set.
	done    chan struct{}
	waitErr error
}

// startWebhook runs kmirror serve with a certificate for 127.0.0.1, made
// for this run, and the flags given.
func startWebhook(t *testing.T, flags ...string) *webhook {
	t.Helper()
	return startWebhookEnv(t, nil, flags...)
}

// startWebhookEnv is startWebhook with variables added to the environment.
func startWebhookEnv(t *testing.T, env []string, flags ...string) *webhook {
	t.Helper()
	dir := t.TempDir()
	b, err := certs.Generate([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w := &webhook{caFile: filepath.Join(dir, "ca.crt"), logPath: filepath.Join(dir, "kmirror.log"), done: make(chan struct{})}
	writeTestFile(t, w.caFile, string(b.CA))
	writeTestFile(t, filepath.Join(dir, "tls.crt"), string(b.Cert))
	writeTestFile(t, filepath.Join(dir, "tls.key"), string(b.Key))
	logFile, err := os.Create(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	w.cmd = exec.Command(kmirrorBin, append([]string{"serve", "--addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0",
		"--tls-cert-file=" + filepath.Join(dir, "tls.crt"), "--tls-key-file=" + filepath.Join(dir, "tls.key")}, flags...)...)
	w.cmd.Stdout, w.cmd.Stderr = logFile, logFile
	w.cmd.Env = append(os.Environ(), env...)
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		w.waitErr = w.cmd.Wait()
		logFile.Close()
		close(w.done)
	}()
	t.Cleanup(func() {
		select {
		case <-w.done:
		default:
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	for deadline := time.Now().Add(30 * time.Second); w.url == "" || w.metricsURL == ""; time.Sleep(20 * time.Millisecond) {
		if addr := w.logged(t, "serving the webhook"); addr != "" {
			w.url = "https://" + addr + "/mutate"
		}
		if addr := w.logged(t, "serving metrics"); addr != "" {
			w.metricsURL = "http://" + addr + "/metrics"
		}
		if time.Now().After(deadline) {
			t.Fatalf("kmirror serve did not start:\n%s", w.logs(t))
		}
	}
	return w
}

// logged returns the addr of kmirror's log line with message msg.
func (w *webhook) logged(t *testing.T, msg string) string {
	for _, line := range w.lines(t) {
		if line["msg"] == msg {
			addr, _ := line["addr"].(string)
			return addr
		}
	}
	return ""
}

func (w *webhook) logs(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// lines returns kmirror's log lines, decoded.
func (w *webhook) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(w.logs(t)))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, line)
	}
	return out
}

// stop sends SIGTERM and returns how kmirror exited.
func (w *webhook) stop(t *testing.T) error {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
		return w.waitErr
	case <-time.After(30 * time.Second):
		t.Fatal("kmirror serve did not exit 30s after SIGTERM")
		return nil
	}
}

// loggedRefusal reports whether kmirror logged that it refused a review
// with status and message.
func (w *webhook) loggedRefusal(t *testing.T, status int, message string) bool {
	for _, line := range w.lines(t) {
		if line["msg"] == "request refused" && line["status"] == float64(status) && line["error"] == message {
			return true
		}
	}
	return false
}

// image returns one image field of a Pod, by JSONPath.
func (c *cluster) image(t *testing.T, namespace, pod, jsonpath string) string {
	t.Helper()
	return c.mustKubectl(t, "", "get", "pod", pod, "-n", namespace, "-o=jsonpath={"+jsonpath+"}")
}

// TestWebhook registers kmirror serve with a real kube-apiserver, as a user
// running it outside the cluster would, and checks what kubectl stores.
func TestWebhook(t *testing.T) {
	c := startCluster(t, tool(t, "KMIRROR_KUBE_APISERVER"))
	w := startWebhook(t)
	out, err := exec.Command(kmirrorBin, "manifests", "--webhook-url="+w.url, "--ca-file="+w.caFile).Output()
	if err != nil {
		t.Fatalf("kmirror manifests: %v", err)
	}
	c.mustKubectl(t, string(out), "apply", "-f", "-")
	c.waitForWebhook(t)

	t.Run("kubectl run", func(t *testing.T) {
		c.mustKubectl(t, "", "run", "test", "--image=k8s.gcr.io/coredns:1.3.1")
		got := c.mustKubectl(t, "", "get", "pod", "test", "-o=jsonpath={.spec.containers[0].image}")
		if want := webhookMirror + "/gcr/google_containers/coredns:1.3.1"; got != want {
			t.Errorf("image %q, want %q", got, want)
		}
	})

	t.Run("direct.to survives updates", func(t *testing.T) {
		c.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata: {name: direct}
spec:
  containers:
  - name: direct
    image: direct.to/busybox:latest
    env: [{name: PASSWORD, value: s3cr3t-never-logged}]
  - {name: other, image: "nginx:1.27"}
`, "apply", "-f", "-")
		check := func(when, other string) {
			t.Helper()
			if got := c.image(t, "default", "direct", ".spec.containers[0].image"); got != "busybox:latest" {
				t.Errorf("%s: escaped image is %q, want busybox:latest", when, got)
			}
			if got := c.image(t, "default", "direct", ".spec.containers[1].image"); got != other {
				t.Errorf("%s: other image is %q, want %q", when, got, other)
			}
		}
		check("created", webhookMirror+"/dockerhub/nginx:1.27")
		record := c.mustKubectl(t, "", "get", "pod", "direct", `-o=jsonpath={.metadata.annotations.kmirror\.dev/escaped}`)
		if want := `{"containers/direct":"busybox:latest"}`; record != want {
			t.Errorf("escape record %q, want %q", record, want)
		}
		c.mustKubectl(t, "", "label", "pod", "direct", "touched=yes")
		check("after a label update", webhookMirror+"/dockerhub/nginx:1.27")
		c.mustKubectl(t, "", "set", "image", "pod/direct", "other=quay.io/prometheus/busybox:1.36")
		check("after an image update of the other container", webhookMirror+"/quay/prometheus/busybox:1.36")
	})

	t.Run("init and ephemeral containers", func(t *testing.T) {
		c.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata: {name: containers}
spec:
  initContainers: [{name: init, image: gcr.io/google-containers/busybox:1.27}]
  containers: [{name: app, image: registry.k8s.io/pause:3.9}]
`, "apply", "-f", "-")
		if got, want := c.image(t, "default", "containers", ".spec.initContainers[0].image"), webhookMirror+"/gcr/google_containers/busybox:1.27"; got != want {
			t.Errorf("init container image %q, want %q", got, want)
		}
		c.mustKubectl(t, "", "debug", "pod/containers", "--image=busybox:1.36", "--container=debugger")
		if got, want := c.image(t, "default", "containers", ".spec.ephemeralContainers[0].image"), webhookMirror+"/dockerhub/busybox:1.36"; got != want {
			t.Errorf("kubectl debug: ephemeral container image %q, want %q", got, want)
		}
		c.mustKubectl(t, "", "patch", "pod", "containers", "--subresource=ephemeralcontainers", "--type=json",
			`-p=[{"op":"add","path":"/spec/ephemeralContainers/-","value":{"name":"direct","image":"direct.to/busybox:1.36","targetContainerName":"app"}}]`)
		if got := c.image(t, "default", "containers", ".spec.ephemeralContainers[1].image"); got != "busybox:1.36" {
			t.Errorf("subresource patch: ephemeral container image %q, want busybox:1.36", got)
		}
		if got := c.image(t, "default", "containers", ".spec.ephemeralContainers[0].image"); got != webhookMirror+"/dockerhub/busybox:1.36" {
			t.Errorf("the first ephemeral container changed to %q", got)
		}
	})

	t.Run("opted out", func(t *testing.T) {
		c.mustKubectl(t, "", "create", "namespace", "optout")
		c.mustKubectl(t, "", "label", "namespace", "optout", "kmirror.dev/mirror=disabled")
		c.mustKubectl(t, "", "run", "test", "-n", "optout", "--image=k8s.gcr.io/coredns:1.3.1")
		c.mustKubectl(t, "", "run", "labelled", "--labels=kmirror.dev/mirror=disabled", "--image=k8s.gcr.io/coredns:1.3.1")
		c.mustKubectl(t, "", "run", "system", "-n", "kube-system", "--image=k8s.gcr.io/coredns:1.3.1")
		for _, p := range [][2]string{{"optout", "test"}, {"default", "labelled"}, {"kube-system", "system"}} {
			if got := c.image(t, p[0], p[1], ".spec.containers[0].image"); got != "k8s.gcr.io/coredns:1.3.1" {
				t.Errorf("pod %s/%s: image %q, want it untouched", p[0], p[1], got)
			}
		}
	})

	t.Run("in-cluster manifests pass server dry run", func(t *testing.T) {
		out, err := exec.Command(kmirrorBin, "manifests").Output()
		if err != nil {
			t.Fatalf("kmirror manifests: %v", err)
		}
		// A dry run creates nothing, so the namespaced objects need their
		// namespace to exist already.
		c.mustKubectl(t, "", "create", "namespace", "kmirror-system")
		applied := c.mustKubectl(t, string(out), "apply", "--dry-run=server", "-f", "-")
		for _, kind := range []string{"namespace/kmirror-system", "serviceaccount/kmirror", "configmap/kmirror-rules", "secret/kmirror-tls",
			"service/kmirror", "deployment.apps/kmirror", "poddisruptionbudget.policy/kmirror", "mutatingwebhookconfiguration.admissionregistration.k8s.io/kmirror"} {
			if !strings.Contains(applied, kind+" ") {
				t.Errorf("kubectl apply --dry-run=server did not take %s:\n%s", kind, applied)
			}
		}
	})

	t.Run("logs and metrics", func(t *testing.T) {
		reviews := 0
		for _, line := range w.lines(t) {
			if line["msg"] != "review" {
				continue
			}
			reviews++
			for _, key := range []string{"uid", "kind", "namespace", "operation", "result"} {
				if line[key] == nil || line[key] == "" {
					t.Errorf("log line without %s: %v", key, line)
				}
			}
		}
		if reviews == 0 {
			t.Error("no review was logged")
		}
		logs := w.logs(t)
		if strings.Contains(logs, "s3cr3t") {
			t.Error("the logs hold a value of an object")
		}
		if !strings.Contains(logs, `"spec.containers[0].image: k8s.gcr.io/coredns:1.3.1 -> `+webhookMirror) {
			t.Errorf("the logs do not say what was rewritten:\n%s", logs)
		}
		resp, err := http.Get(w.metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`kmirror_admission_requests_total{result="patched"}`, `kmirror_admission_images_rewritten_total{action="escaped",dry_run="false"}`, "kmirror_admission_request_duration_seconds_bucket"} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})

	t.Run("over the limits", func(t *testing.T) {
		// 100,000 empty args: 300 KB, over the limit of JSON values.
		args := strings.Repeat(`"",`, 100_000)
		c.mustKubectl(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"huge"},"spec":{"containers":[`+
			`{"name":"app","image":"k8s.gcr.io/coredns:1.3.1","args":[`+args+`""]}]}}`, "create", "-f", "-")
		if got := c.image(t, "default", "huge", ".spec.containers[0].image"); got != "k8s.gcr.io/coredns:1.3.1" {
			t.Errorf("image %q, want it admitted unchanged by the failure policy", got)
		}
		// kmirror cannot name a review it stopped reading; the API server
		// names the webhook, and gives kmirror's reason.
		const reason = "the review is over kmirror's limits: more than 100000 JSON values"
		for deadline := time.Now().Add(10 * time.Second); !w.loggedRefusal(t, 413, reason); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("kmirror did not log the review it refused:\n%s", tail([]byte(w.logs(t)), 2000))
			}
		}
		log, err := os.ReadFile(filepath.Join(c.dir, "kube-apiserver.log"))
		if err != nil {
			t.Fatal(err)
		}
		if want := `failing open mirror.kmirror.dev: failed calling webhook "mirror.kmirror.dev": failed to call webhook: ` + reason; !strings.Contains(string(log), want) {
			t.Errorf("the API server does not log %q:\n%s", want, tail(log, 2000))
		}
	})

	t.Run("a 1 MiB invalid image is not echoed", func(t *testing.T) {
		// etcd takes requests up to 1.5 MiB.
		huge := strings.Repeat("A", 1<<20)
		_, stderr := c.kubectlStderr(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"echo"},"spec":{"containers":[`+
			`{"name":"app","image":"`+huge+`"}]}}`, "create", "-f", "-")
		if !strings.Contains(stderr, "Warning: kmirror: spec.containers[0].image: invalid image reference") || len(stderr) > 1024 {
			t.Errorf("kubectl printed %d bytes: %.500q", len(stderr), stderr)
		}
		if logs := w.logs(t); strings.Contains(logs, huge[:4096]) {
			t.Error("kmirror logged the image whole")
		}
	})

	t.Run("failure policy Ignore", func(t *testing.T) {
		if err := w.stop(t); err != nil {
			t.Errorf("kmirror serve exited with %v after SIGTERM, want 0:\n%s", err, w.logs(t))
		}
		c.mustKubectl(t, "", "run", "unmirrored", "--image=k8s.gcr.io/coredns:1.3.1")
		if got := c.image(t, "default", "unmirrored", ".spec.containers[0].image"); got != "k8s.gcr.io/coredns:1.3.1" {
			t.Errorf("with kmirror stopped: image %q, want it admitted unchanged", got)
		}
	})
}

// kubectlStderr is mustKubectl that returns stderr too: the warnings of
// the API server.
func (c *cluster) kubectlStderr(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig=" + c.kubeconfig, "--cache-dir=" + filepath.Join(c.dir, "kube-cache")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.dir, "KUBECONFIG=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v: %.1000s [...] %s", strings.Join(args, " "), err, errOut.String(), tail(errOut.Bytes(), 1000))
	}
	return out.String(), errOut.String()
}

// waitForWebhook waits until the API server calls the webhooks it was just
// told about, by dry runs of a Pod whose image becomes want, by default
// the image the default rules make of k8s.gcr.io/pause:3.9.
func (c *cluster) waitForWebhook(t *testing.T, want ...string) {
	t.Helper()
	if len(want) == 0 {
		want = []string{webhookMirror + "/gcr/google_containers/pause:3.9"}
	}
	var got string
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, err = c.kubectl("", "run", "probe", "--image=k8s.gcr.io/pause:3.9", "--dry-run=server", "-o=jsonpath={.spec.containers[0].image}")
		if err == nil && got == want[0] {
			return
		}
	}
	t.Fatal(errors.Join(fmt.Errorf("the API server does not call the webhook: the probe Pod got image %q", got), err))
}

// register applies the webhook configuration for w, named name.
func (c *cluster) register(t *testing.T, w *webhook, name string) {
	t.Helper()
	out, err := exec.Command(kmirrorBin, "manifests", "--webhook-url="+w.url, "--ca-file="+w.caFile).Output()
	if err != nil {
		t.Fatalf("kmirror manifests: %v", err)
	}
	config := strings.Replace(string(out), "name: kmirror\n", "name: "+name+"\n", 1)
	config = strings.Replace(config, "- name: mirror.kmirror.dev", "- name: "+name+".kmirror.dev", 1)
	c.mustKubectl(t, config, "apply", "-f", "-")
}

// TestWebhookEscapesSurviveReinvocation runs a second webhook after
// kmirror that changes the images kmirror mirrored, so that the API server
// calls kmirror again (reinvocationPolicy: IfNeeded) on an object whose
// escaped images no longer say so, with no old object to compare with on
// CREATE, and an old object without the new container on the
// pods/ephemeralcontainers subresource.
//
// On that subresource the API server keeps only the changes to ephemeral
// containers: the escape annotation kmirror adds is in the object the
// second call sees, and is dropped when the Pod is stored. Later updates
// then find the escaped image in the old object, and leave it alone.
func TestWebhookEscapesSurviveReinvocation(t *testing.T) {
	c := startCluster(t, tool(t, "KMIRROR_KUBE_APISERVER"))
	first := startWebhook(t)
	// Configurations are called in the order of their names.
	c.register(t, first, "kmirror")
	rules := filepath.Join(t.TempDir(), "second.yaml")
	writeTestFile(t, rules, `apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
metadata: {name: second}
spec:
  escapePrefix: ""
  mirrors:
  - {from: `+webhookMirror+`/, to: second.example.com/}
`)
	second := startWebhook(t, "--rules="+rules)
	c.register(t, second, "kmirror-second")
	c.waitForWebhook(t, "second.example.com/gcr/google_containers/pause:3.9")

	c.mustKubectl(t, `apiVersion: v1
kind: Pod
metadata: {name: twice}
spec:
  containers:
  - {name: app, image: "registry.k8s.io/pause:3.9"}
  - {name: direct, image: "direct.to/busybox:1.35"}
`, "create", "-f", "-")
	for path, want := range map[string]string{
		".spec.containers[0].image": "second.example.com/gcr/google_containers/pause:3.9",
		".spec.containers[1].image": "busybox:1.35",
	} {
		if got := c.image(t, "default", "twice", path); got != want {
			t.Errorf("created: %s is %q, want %q", path, got, want)
		}
	}
	reinvoked := func(subresource string) bool {
		calls := 0
		for _, line := range first.lines(t) {
			if line["msg"] == "review" && line["name"] == "twice" && fmt.Sprint(line["subresource"]) == subresource {
				calls++
			}
		}
		return calls == 2
	}
	if !reinvoked("<nil>") {
		t.Errorf("kmirror was not called twice on the CREATE:\n%s", first.logs(t))
	}

	c.mustKubectl(t, "", "patch", "pod", "twice", "--subresource=ephemeralcontainers", "--type=json",
		`-p=[{"op":"add","path":"/spec/ephemeralContainers","value":[`+
			`{"name":"escaped","image":"direct.to/busybox:1.36","targetContainerName":"app"},`+
			`{"name":"debug","image":"registry.k8s.io/pause:3.9","targetContainerName":"app"}]}]`)
	check := func(when string) {
		t.Helper()
		for path, want := range map[string]string{
			".spec.ephemeralContainers[0].image": "busybox:1.36",
			".spec.ephemeralContainers[1].image": "second.example.com/gcr/google_containers/pause:3.9",
			".spec.containers[1].image":          "busybox:1.35",
		} {
			if got := c.image(t, "default", "twice", path); got != want {
				t.Errorf("%s: %s is %q, want %q", when, path, got, want)
			}
		}
	}
	check("after the subresource update")
	if !reinvoked("ephemeralcontainers") {
		t.Errorf("kmirror was not called twice on the subresource:\n%s", first.logs(t))
	}
	record := c.mustKubectl(t, "", "get", "pod", "twice", `-o=jsonpath={.metadata.annotations.kmirror\.dev/escaped}`)
	if want := `{"containers/direct":"busybox:1.35"}`; record != want {
		t.Errorf("the escape record is %q, want %q, the CREATE's: the API server keeps only the ephemeral containers of a subresource update", record, want)
	}
	c.mustKubectl(t, "", "label", "pod", "twice", "touched=yes")
	check("after a label update")
}
