package admission

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCertWatcherRotatesWithoutDroppingConnections replaces the files as
// cert-manager does, and checks that new handshakes get the new
// certificate while a connection made before keeps working.
func TestCertWatcherRotatesWithoutDroppingConnections(t *testing.T) {
	ts := startServer(t, http.NotFoundHandler(), func(s *Server) { s.Poll = 10 * time.Millisecond })
	addr := strings.TrimPrefix(ts.url, "https://")
	// One idle connection, kept alive across the rotation.
	ts.client.Transport.(*http.Transport).MaxIdleConnsPerHost = 1
	first := ts.requestOnOneConnection(t, false)

	rotated := writeCert(t, ts.dir, ts.roots)
	want := leaf(t, rotated.Cert)
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ts.roots})
		if err != nil {
			t.Fatal(err)
		}
		got := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		if got.Equal(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new handshakes never got the new certificate")
		}
		time.Sleep(10 * time.Millisecond)
	}
	again := ts.requestOnOneConnection(t, true)
	if !again.Equal(first) {
		t.Error("the connection made before the rotation changed certificate")
	}
	if !strings.Contains(ts.logs.String(), "loaded TLS certificate") {
		t.Errorf("no log of the reload:\n%s", ts.logs)
	}
}

// requestOnOneConnection makes a request and returns the certificate of
// its connection, checking whether the connection was reused.
func (ts *testServer) requestOnOneConnection(t *testing.T, wantReused bool) *x509.Certificate {
	t.Helper()
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet, ts.url+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || reused != wantReused {
		t.Fatalf("status %d, connection reused %v, want %v", resp.StatusCode, reused, wantReused)
	}
	return resp.TLS.PeerCertificates[0]
}

func TestCertWatcherKeepsTheCertificateWhenFilesAreBad(t *testing.T) {
	dir := t.TempDir()
	b := writeCert(t, dir, x509.NewCertPool())
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	metrics := NewMetrics()
	w, err := NewCertWatcher(certFile, keyFile, nil, metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func()
	}{
		{"a key that does not match", func() { writeFile(t, keyFile, otherKey(t)) }},
		{"a truncated certificate", func() { writeFile(t, certFile, b.Cert[:len(b.Cert)/2]) }},
		{"a missing key", func() { os.Remove(keyFile) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, certFile, b.Cert)
			writeFile(t, keyFile, b.Key)
			tc.edit()
			if changed, err := w.Reload(); err == nil || changed {
				t.Errorf("Reload: changed %v, error %v; want an error", changed, err)
			}
			cert, _ := w.GetCertificate(nil)
			if !cert.Leaf.Equal(leaf(t, b.Cert)) {
				t.Error("the certificate in use changed")
			}
		})
	}
	writeFile(t, certFile, b.Cert)
	writeFile(t, keyFile, b.Key)
	if changed, err := w.Reload(); err != nil || changed {
		t.Errorf("Reload of unchanged files: changed %v, error %v", changed, err)
	}
	if got := gather(t, metrics)["kmirror_tls_certificate_reload_failures_total"]; got != 3 {
		t.Errorf("%v failed reloads counted, want 3", got)
	}
}

func TestNewCertWatcherFailsOnBadFiles(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, x509.NewCertPool())
	writeFile(t, filepath.Join(dir, "tls.key"), otherKey(t))
	if _, err := NewCertWatcher(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), nil, nil); err == nil || !strings.Contains(err.Error(), "tls.crt") {
		t.Errorf("error %v, want one naming the files", err)
	}
	if _, err := NewCertWatcher(filepath.Join(dir, "missing.crt"), filepath.Join(dir, "tls.key"), nil, nil); err == nil {
		t.Error("no error for a missing file")
	}
}

func otherKey(t *testing.T) []byte {
	t.Helper()
	return writeCert(t, t.TempDir(), x509.NewCertPool()).Key
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func leaf(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(bytes.TrimSpace(certPEM))
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
