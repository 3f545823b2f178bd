package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// plainHTTPError refuses a plain-HTTP request to a registry that
// Options.PlainHTTP does not name. go-containerregistry falls back to
// plain HTTP by itself for localhost and private addresses when HTTPS
// fails; kmirror sends credentials in clear text only where it was told to.
type plainHTTPError struct {
	host string
}

func (e *plainHTTPError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to %s (allow it with --plain-http %s)", e.host, e.host)
}

// MaxManifestBytes bounds a manifest read from a registry:
// distribution's own limit on the manifests it takes.
const MaxManifestBytes = 4 << 20

// ErrManifestTooBig: a registry sent a manifest over MaxManifestBytes.
var ErrManifestTooBig = errors.New("manifest too big")

// manifestTooBig is a manifest over MaxManifestBytes, from host.
type manifestTooBig struct {
	host string
}

func (e *manifestTooBig) Error() string {
	return fmt.Sprintf("%s sent a manifest of more than %d MiB, the most a registry takes", e.host, MaxManifestBytes>>20)
}

func (e *manifestTooBig) Is(target error) bool { return target == ErrManifestTooBig }

// guardTransport sends plain-HTTP requests only to the hosts in plain,
// reads at most MaxManifestBytes of a manifest, and counts the bytes of
// request bodies for the counter in a request's context.
type guardTransport struct {
	inner http.RoundTripper
	plain map[string]bool
}

func (t *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !t.plain[req.URL.Host] {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &plainHTTPError{host: req.URL.Host}
	}
	if n, ok := req.Context().Value(counterKey{}).(*atomic.Int64); ok && req.Body != nil && req.Body != http.NoBody &&
		(req.Method == http.MethodPatch || req.Method == http.MethodPut || req.Method == http.MethodPost) {
		req = req.Clone(req.Context())
		req.Body = &countingBody{ReadCloser: req.Body, n: n}
	}
	resp, err := t.inner.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/manifests/") {
		return resp, err
	}
	if resp.ContentLength > MaxManifestBytes {
		resp.Body.Close()
		return nil, &manifestTooBig{host: req.URL.Host}
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: MaxManifestBytes, host: req.URL.Host}
	return resp, nil
}

// limitedBody fails a read past its limit.
type limitedBody struct {
	io.ReadCloser
	left int64
	host string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &manifestTooBig{host: b.host}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return n, &manifestTooBig{host: b.host}
	}
	return n, err
}

type counterKey struct{}

// withCounter returns a context whose uploads add their bytes to n.
func withCounter(ctx context.Context, n *atomic.Int64) context.Context {
	return context.WithValue(ctx, counterKey{}, n)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
