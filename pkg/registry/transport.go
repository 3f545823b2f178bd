package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
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

// guardTransport sends plain-HTTP requests only to the hosts in plain, and
// counts the bytes of request bodies for the counter in a request's
// context.
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
	return t.inner.RoundTrip(req)
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
