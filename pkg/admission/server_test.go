package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kmirror.dev/kmirror/pkg/certs"
)

// testServer is a Server running on 127.0.0.1.
type testServer struct {
	url, metricsURL string
	client          *http.Client
	roots           *x509.CertPool
	dir             string
	stop            context.CancelFunc
	done            chan error
	logs            *syncBuffer
}

// startServer serves mutate with a certificate in a temporary directory.
func startServer(t *testing.T, mutate http.Handler, configure func(*Server)) *testServer {
	t.Helper()
	ts := &testServer{dir: t.TempDir(), roots: x509.NewCertPool(), done: make(chan error, 1), logs: &syncBuffer{}}
	writeCert(t, ts.dir, ts.roots)
	log := slog.New(slog.NewJSONHandler(ts.logs, nil))
	metrics := NewMetrics()
	cw, err := NewCertWatcher(filepath.Join(ts.dir, "tls.crt"), filepath.Join(ts.dir, "tls.key"), log, metrics)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Mutate: mutate, Certs: cw, Metrics: metrics, Log: log}
	if configure != nil {
		configure(s)
	}
	ln := listen(t)
	mln := listen(t)
	ts.url, ts.metricsURL = "https://"+ln.Addr().String(), "http://"+mln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	ts.stop = cancel
	go func() { ts.done <- s.Serve(ctx, ln, mln) }()
	t.Cleanup(func() {
		cancel()
		<-ts.done
	})
	ts.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ts.roots}}}
	t.Cleanup(ts.client.CloseIdleConnections)
	return ts
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// writeCert writes a new certificate for 127.0.0.1 into dir, replacing the
// files atomically as the kubelet does, and adds its CA to roots.
func writeCert(t *testing.T, dir string, roots *x509.CertPool) *certs.Bundle {
	t.Helper()
	b, err := certs.Generate([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(b.CA)
	for name, data := range map[string][]byte{"tls.crt": b.Cert, "tls.key": b.Key} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (ts *testServer) get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := ts.client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (ts *testServer) postReview(t *testing.T, body []byte) (int, string) {
	t.Helper()
	resp, err := ts.client.Post(ts.url+"/mutate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func TestServerServesTheWebhookOverTLS(t *testing.T) {
	h := newTestHandler(t)
	ts := startServer(t, h, func(s *Server) { h.Metrics = s.Metrics })
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := ts.get(t, ts.url+path); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
	pod := podJSON(t, samplePod)
	if code, body := ts.postReview(t, reviewBody(t, "admission.k8s.io/v1", "CREATE", pod, nil, nil)); code != http.StatusOK || !strings.Contains(body, `"patchType":"JSONPatch"`) {
		t.Errorf("/mutate: %d %s", code, body)
	}
	code, body := ts.get(t, ts.metricsURL+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, `kmirror_admission_requests_total{result="patched"} 1`) ||
		!strings.Contains(body, "kmirror_tls_certificate_expiry_timestamp_seconds") || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, _ := ts.get(t, ts.metricsURL+"/mutate"); code != http.StatusNotFound {
		t.Errorf("/mutate on the metrics listener: %d, want 404", code)
	}
}

func TestServerRefusesPlainHTTPAndOldTLS(t *testing.T) {
	ts := startServer(t, newTestHandler(t), nil)
	resp, err := http.Get("http" + strings.TrimPrefix(ts.url, "https") + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP is served")
		}
	}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(ts.url, "https://"), &tls.Config{RootCAs: ts.roots, MaxVersion: tls.VersionTLS11})
	if err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
}

func TestServerLimitsHeaders(t *testing.T) {
	ts := startServer(t, newTestHandler(t), nil)
	req, err := http.NewRequest(http.MethodGet, ts.url+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("x", 128<<10))
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
	srv := (&Server{Mutate: http.NotFoundHandler(), Certs: &CertWatcher{}}).webhookServer(slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("a limit is not set: %+v", srv)
	}
	if srv.TLSConfig.MinVersion != tls.VersionTLS12 || srv.TLSConfig.GetCertificate == nil {
		t.Errorf("TLS config %+v", srv.TLSConfig)
	}
}

func TestServerRecoversFromAPanic(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), nil)
	for range 2 {
		if code, body := ts.postReview(t, []byte(`{}`)); code != http.StatusInternalServerError || !strings.Contains(body, `"message":"internal error"`) {
			t.Errorf("after a panic: %d %q, want 500", code, body)
		}
	}
	if code, _ := ts.get(t, ts.url+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after a panic: %d", code)
	}
	if !strings.Contains(ts.logs.String(), `"panic":"boom"`) {
		t.Errorf("no log of the panic:\n%s", ts.logs)
	}
	if _, body := ts.get(t, ts.metricsURL+"/metrics"); !strings.Contains(body, `kmirror_admission_requests_total{result="error"} 2`) {
		t.Errorf("the panics are not counted:\n%s", body)
	}
}

func TestServerDrainsRequestsInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = w.Write([]byte("done"))
	})
	ts := startServer(t, slow, nil)
	type result struct {
		code int
		body string
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := ts.client.Post(ts.url+"/mutate", "application/json", strings.NewReader("{}"))
		if err != nil {
			answered <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- result{resp.StatusCode, string(body), err}
	}()
	<-entered
	ts.stop()
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned with a request in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if r := <-answered; r.err != nil || r.code != http.StatusOK || r.body != "done" {
		t.Errorf("request in flight: %d %q %v", r.code, r.body, r.err)
	}
	if err := <-ts.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	ts.done <- nil // for the cleanup
	if _, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "https://")); err == nil {
		t.Error("the listener still accepts connections")
	}
}

func TestReadyzFailsWhileStopping(t *testing.T) {
	s := &Server{Mutate: http.NotFoundHandler(), Certs: &CertWatcher{}}
	h := s.routes(slog.New(slog.DiscardHandler))
	probe := func() int {
		w := &statusRecorder{}
		h.ServeHTTP(w, mustRequest(t, "/readyz"))
		return w.code
	}
	if code := probe(); code != http.StatusOK {
		t.Errorf("ready: %d", code)
	}
	s.stopping.Store(true)
	if code := probe(); code != http.StatusServiceUnavailable {
		t.Errorf("stopping: %d, want 503", code)
	}
}

func mustRequest(t *testing.T, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type statusRecorder struct {
	code int
	h    http.Header
}

func (r *statusRecorder) Header() http.Header {
	if r.h == nil {
		r.h = http.Header{}
	}
	return r.h
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return len(b), nil
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code }

// TestServerOffersAEADSuitesOnly: TLS 1.2 offered CBC suites with SHA-1.
func TestServerOffersAEADSuitesOnly(t *testing.T) {
	ts := startServer(t, newTestHandler(t), nil)
	addr := strings.TrimPrefix(ts.url, "https://")
	for _, tc := range []struct {
		suite uint16
		ok    bool
	}{
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, false},
		{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, false},
	} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ts.roots, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tc.suite}})
		if err == nil {
			conn.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("TLS 1.2 with %s: error %v, want a handshake %v", tls.CipherSuiteName(tc.suite), err, tc.ok)
		}
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ts.roots, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatalf("TLS 1.3: %v", err)
	}
	conn.Close()
}

// TestServerDoesNotRedirect: POST //mutate got a 307 to /mutate.
func TestServerDoesNotRedirect(t *testing.T) {
	ts := startServer(t, newTestHandler(t), nil)
	ts.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, path := range []string{"//mutate", "/mutate/", "/./mutate", "/x/../mutate", "//healthz"} {
		resp, err := ts.client.Post(ts.url+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Location") != "" {
			t.Errorf("POST %s: %d to %q, want 404", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestServerLogsFailedHandshakesAtDebugLevel: every aborted handshake
// logged a warning.
func TestServerLogsFailedHandshakesAtDebugLevel(t *testing.T) {
	ts := startServer(t, newTestHandler(t), nil)
	for range 3 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "https://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		_, _ = io.ReadAll(conn)
		conn.Close()
	}
	metric := "kmirror_tls_handshake_errors_total 3"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, body := ts.get(t, ts.metricsURL+"/metrics"); strings.Contains(body, metric) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the metrics", metric)
		}
	}
	if logs := ts.logs.String(); strings.Contains(logs, "handshake") {
		t.Errorf("failed handshakes logged at info level or above:\n%s", logs)
	}
}

// TestServerCutsTheRequestsLeftAfterTheDrain: the requests still in flight
// when the drain times out are cut, and Serve says so.
func TestServerCutsTheRequestsLeftAfterTheDrain(t *testing.T) {
	entered := make(chan struct{})
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	ts := startServer(t, stuck, func(s *Server) { s.ShutdownTimeout = 100 * time.Millisecond })
	failed := make(chan error, 1)
	go func() {
		resp, err := ts.client.Post(ts.url+"/mutate", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		failed <- err
	}()
	<-entered
	ts.stop()
	err := <-ts.done
	ts.done <- nil // for the cleanup
	if err == nil || !strings.Contains(err.Error(), "cutting 1 requests in flight") {
		t.Errorf("Serve: %v, want an error that counts the requests cut", err)
	}
	select {
	case err := <-failed:
		if err == nil {
			t.Error("the request cut got an answer")
		}
	case <-time.After(10 * time.Second):
		t.Error("the request in flight was left open")
	}
}

// TestServerAbortsTheDrain: a second SIGTERM during the drain did nothing.
func TestServerAbortsTheDrain(t *testing.T) {
	entered := make(chan struct{})
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done()
	})
	abort := make(chan struct{})
	ts := startServer(t, stuck, func(s *Server) { s.Abort, s.ShutdownDelay = abort, time.Minute })
	go func() {
		resp, err := ts.client.Post(ts.url+"/mutate", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	ts.stop()
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned before the abort: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(abort)
	select {
	case err := <-ts.done:
		if err == nil || !strings.Contains(err.Error(), "on a second signal, cutting 1 requests") {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the abort")
	}
	ts.done <- nil
}
