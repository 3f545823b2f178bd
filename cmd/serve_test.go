package cmd

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/pkg/certs"
)

// lockedBuffer collects a server's logs while a test reads them.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logged returns the addr of the first log line with message msg.
func (b *lockedBuffer) logged(msg string) string {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == msg {
			return line.Addr
		}
	}
	return ""
}

func writeServingCert(t *testing.T) (dir string, roots *x509.CertPool) {
	t.Helper()
	dir = t.TempDir()
	b, err := certs.Generate([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "tls.crt", string(b.Cert))
	write(t, dir, "tls.key", string(b.Key))
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(b.CA)
	return dir, roots
}

func TestServeAnswersUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startServe(t, ctx)
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE",
		"object":{"kind":"Pod","metadata":{"name":"test"},"spec":{"containers":[{"name":"test","image":"k8s.gcr.io/coredns:1.3.1"}]}}}}`
	resp, err := s.client.Post("https://"+s.addr+"/mutate", "application/json", strings.NewReader(review))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct{ Response struct{ Patch []byte } }
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	want := `[{"op":"replace","path":"/spec/containers/0/image","value":"` + ecr + `/gcr/google_containers/coredns:1.3.1"}]`
	if string(answer.Response.Patch) != want {
		t.Errorf("patch %s, want %s", answer.Response.Patch, want)
	}
	resp, err = http.Get("http://" + s.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `kmirror_admission_requests_total{result="patched"} 1`) {
		t.Errorf("metrics:\n%s", metrics)
	}
	cancel()
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if !strings.Contains(s.logs.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop in the logs:\n%s", s.logs)
	}
}

func TestServeFlagErrors(t *testing.T) {
	dir, _ := writeServingCert(t)
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(filepath.Join(dir, "bad.key"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--tls-cert-file and --tls-key-file are required"},
		{[]string{"--tls-cert-file", cert}, "--tls-cert-file and --tls-key-file are required"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--log-format", "xml"}, "--log-format must be json or text"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--log-level", "loud"}, "--log-level must be"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--shutdown-delay", "-1s"}, "--shutdown-delay must not be negative"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", filepath.Join(dir, "bad.key")}, "loading the TLS certificate"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", filepath.Join(dir, "missing.key")}, "reading the TLS key"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--rules", "no-such-preset"}, "no preset"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--addr", "127.0.0.1:99999"}, "--addr: listen tcp"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:99999"}, "--metrics-addr: listen tcp"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "maybe"}, `--swap-policy must be always or exists, not "maybe"`},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--copy-missing"}, "--copy-missing needs --swap-policy exists"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--missing-ttl", "1m"}, "--missing-ttl needs --swap-policy exists"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "exists", "--copy-workers", "8"}, "--copy-workers needs --copy-missing"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "exists", "--on-check-error", "skip"}, "--on-check-error must be source or mirror"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "exists", "--check-timeout", "3s"}, "--check-timeout 3s is longer than --review-budget 2s"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--review-budget", "0s"}, "--review-budget must be positive"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "exists", "--copy-missing", "--copy-queue", "0"}, "--copy-queue and --copy-workers must be at least 1"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "exists", "--copy-timeout", "1m"}, "--copy-timeout needs --copy-missing"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "exists", "--copy-missing", "--copy-timeout", "0s"}, "--copy-timeout must be positive"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "exists", "--registry-config", filepath.Join(dir, "none.json")}, "--registry-config: reading the registry credentials"},
		{[]string{"--tls-cert-file", cert, "--tls-key-file", key, "--swap-policy", "exists", "--plain-http", "a.io/b"}, `plain-HTTP registry "a.io/b"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := run(t, "", append([]string{"serve"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// served is a kmirror serve that a test started: where it listens, the
// CA of its certificate and a client that trusts it, its logs, and the
// channel of what it returns.
type served struct {
	addr, metricsAddr string
	roots             *x509.CertPool
	client            *http.Client
	logs              *lockedBuffer
	done              chan error
}

// startServe runs kmirror serve in-process with ctx, on 127.0.0.1 with a
// certificate of its own and args besides, and waits until it logs where
// it listens.
func startServe(t *testing.T, ctx context.Context, args ...string) *served {
	t.Helper()
	dir, roots := writeServingCert(t)
	s := &served{roots: roots, logs: &lockedBuffer{}, done: make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}}
	t.Cleanup(s.client.CloseIdleConnections)
	root := NewRoot()
	root.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--tls-cert-file", filepath.Join(dir, "tls.crt"), "--tls-key-file", filepath.Join(dir, "tls.key")}, args...))
	root.SetErr(s.logs)
	root.SetOut(io.Discard)
	go func() { s.done <- root.ExecuteContext(ctx) }()
	for deadline := time.Now().Add(30 * time.Second); s.addr == "" || s.metricsAddr == ""; time.Sleep(10 * time.Millisecond) {
		s.addr, s.metricsAddr = s.logs.logged("serving the webhook"), s.logs.logged("serving metrics")
		if time.Now().After(deadline) {
			t.Fatalf("kmirror serve did not start:\n%s", s.logs)
		}
	}
	return s
}

// TestServeStopsAtOnceOnASecondSignal: a second SIGTERM during the drain
// did nothing; kmirror waited for the requests in flight for up to 15s.
func TestServeStopsAtOnceOnASecondSignal(t *testing.T) {
	ctx, stop := SignalContext(context.Background())
	defer stop()
	s := startServe(t, ctx)
	// A review whose body does not come holds the drain.
	conn, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mutate HTTP/1.1\r\nHost: kmirror\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		t.Fatalf("kmirror serve stopped on the first signal with a request in flight: %v\n%s", err, s.logs)
	case <-time.After(500 * time.Millisecond):
	}
	if !strings.Contains(s.logs.String(), `"msg":"shutting down"`) {
		t.Fatalf("no drain after the first signal:\n%s", s.logs)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if ExitCode(err) != 2 || !strings.Contains(fmt.Sprint(err), "stopped on a second signal, cutting 1 requests in flight") {
			t.Errorf("exit %d: %v; want 2 and the requests cut", ExitCode(err), err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("kmirror serve still drains 5s after the second signal:\n%s", s.logs)
	}
}

func TestServeSetsASoftMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	setMemoryLimit()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("with GOMEMLIMIT set, the limit is %d", got)
	}
	os.Unsetenv("GOMEMLIMIT")
	setMemoryLimit()
	if got := debug.SetMemoryLimit(-1); got != admission.MemoryLimit {
		t.Errorf("the limit is %d, want %d", got, admission.MemoryLimit)
	}
}
