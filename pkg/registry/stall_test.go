package registry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// stallClient is a Client for plain-HTTP test registries with short stall
// timeouts, and one retry.
func stallClient(t *testing.T, header, idle time.Duration, plain ...string) *Client {
	t.Helper()
	c, err := New(Options{PlainHTTP: plain, Keychain: authn.NewMultiKeychain(), HeaderTimeout: header, IdleTimeout: idle,
		Retry: Retry{Attempts: 2, Wait: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// silentListener accepts connections and never answers.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestStalledHeaders: a registry that accepts the connection and never
// answers fails the request after the header timeout, each try.
func TestStalledHeaders(t *testing.T) {
	host := silentListener(t)
	c := stallClient(t, 100*time.Millisecond, time.Minute, host)
	// The test's own bound, far above what the timeouts allow.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Head(ctx, host+"/app:1")
	if err == nil || !strings.Contains(err.Error(), host+" sent no response headers for 100ms") || ctx.Err() != nil {
		t.Errorf("got %v, want the registry named as sending no headers", err)
	}
}

// TestStalledBody: a blob that stops halfway fails the copy after the idle
// timeout, and the source is named.
func TestStalledBody(t *testing.T) {
	reg, mirror := newTestRegistry(t), newTestRegistry(t)
	push(t, reg.host+"/src/app:1", threePlatforms)
	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/src/app/blobs/") {
			return false
		}
		w.WriteHeader(http.StatusOK)
		w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	}
	c := stallClient(t, time.Minute, 100*time.Millisecond, reg.host, mirror.host)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.Copy(ctx, reg.host+"/src/app:1", mirror.host+"/mirror/app:1", CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), reg.host+" sent no bytes for 100ms") || ctx.Err() != nil {
		t.Errorf("got %v, want the source named as sending no bytes", err)
	}
}

// TestSlowSourceIsNotAStall: a blob that comes slowly, but never stops
// for as long as the timeouts, goes through, though its upload to the
// mirror takes longer than the header timeout: that timeout starts once
// the request is sent, and the time a request body waits for the source
// counts against the source.
func TestSlowSourceIsNotAStall(t *testing.T) {
	reg, mirror := newTestRegistry(t), newTestRegistry(t)
	push(t, reg.host+"/src/app:1", registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 64 << 10, Seed: 5})
	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			return false
		}
		rec := httptest.NewRecorder()
		reg.registry.ServeHTTP(rec, r)
		w.WriteHeader(rec.Code)
		for b := rec.Body.Bytes(); len(b) > 0; b = b[min(len(b), 4<<10):] {
			time.Sleep(40 * time.Millisecond)
			w.Write(b[:min(len(b), 4<<10)])
			w.(http.Flusher).Flush()
		}
		return true
	}
	c := stallClient(t, 300*time.Millisecond, 300*time.Millisecond, reg.host, mirror.host)
	start := time.Now()
	if _, err := c.Copy(context.Background(), reg.host+"/src/app:1", mirror.host+"/mirror/app:1", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Errorf("the copy took %v, not much longer than the timeouts: the test proves nothing", d)
	}
}

// TestManifestLimit: a manifest over 4 MiB fails the copy with a clear
// error, and no more than the limit is read of it, whether its size is
// declared or not.
func TestManifestLimit(t *testing.T) {
	for _, declared := range []bool{false, true} {
		reg := newTestRegistry(t)
		push(t, reg.host+"/src/app:1", threePlatforms)
		var mu sync.Mutex
		sent := 0
		reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/src/app/manifests/") {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			if declared {
				w.Header().Set("Content-Length", "95000000")
			}
			chunk := []byte(`{"manifests":[` + strings.Repeat(" ", 64<<10))
			for range 95_000_000 / len(chunk) {
				n, err := w.Write(chunk)
				mu.Lock()
				sent += n
				mu.Unlock()
				if err != nil {
					break
				}
			}
			return true
		}
		read := &countingTransport{inner: http.DefaultTransport}
		c, err := New(Options{PlainHTTP: []string{reg.host}, Keychain: authn.NewMultiKeychain(), Transport: read})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Copy(context.Background(), reg.host+"/src/app:1", reg.host+"/mirror/app:1", CopyOptions{})
		if !errors.Is(err, ErrManifestTooBig) || !strings.Contains(err.Error(), "reading "+reg.host+"/src/app:1: ") ||
			!strings.Contains(err.Error(), reg.host+" sent a manifest of more than 4 MiB") {
			t.Errorf("declared %v: got %v, want a manifest too big", declared, err)
		}
		if n := read.bytes(); n > MaxManifestBytes+64<<10 {
			t.Errorf("declared %v: read %d bytes of the manifest, over the limit of %d", declared, n, MaxManifestBytes)
		}
	}
}

// countingTransport counts the bytes of the manifests it reads.
type countingTransport struct {
	inner http.RoundTripper
	mu    sync.Mutex
	n     int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(req)
	if err == nil && strings.Contains(req.URL.Path, "/manifests/") {
		resp.Body = &countedBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

func (c *countingTransport) bytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

type countedBody struct {
	io.ReadCloser
	c *countingTransport
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.n += n
	b.c.mu.Unlock()
	return n, err
}
