package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// The stall timeouts, unless Options say otherwise.
const (
	DefaultHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout   = 60 * time.Second
)

// stallTransport fails a transfer that stops: a response whose headers do
// not come within header of the request being sent, or a body that moves
// no byte for idle. A registry that accepts connections and never
// answers, or stops halfway through a blob, then costs a copy that long
// instead of holding it for good. The wait is counted where the registry
// is waited for: inside a read of a response body, and outside the reads
// of a request body (while the transport writes it out), so that a copy
// that streams a blob from one registry into another blames the one that
// stopped.
type stallTransport struct {
	inner        http.RoundTripper
	header, idle time.Duration
}

// stallError is a transfer that stopped. It is a timeout, which the retry
// policy retries.
type stallError struct {
	host string
	// what did not come: "response headers" or "bytes".
	what  string
	after time.Duration
}

func (e *stallError) Error() string {
	return fmt.Sprintf("%s sent no %s for %v", e.host, e.what, e.after)
}
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }

func (t *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := newWatchdog(cancel, req.URL.Host)
	req = req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &requestBody{ReadCloser: req.Body, w: w, t: t}
		w.sending(t.idle, "bytes")
	} else {
		w.sending(t.header, "response headers")
	}
	resp, err := t.inner.RoundTrip(req)
	w.answered()
	if err != nil {
		cancel(nil)
		return nil, stalled(ctx, err)
	}
	resp.Body = &responseBody{ReadCloser: resp.Body, w: w, ctx: ctx, idle: t.idle, cancel: cancel}
	return resp, nil
}

// stalled is the stall that ended ctx, in place of the error it caused,
// or err.
func stalled(ctx context.Context, err error) error {
	var stall *stallError
	if errors.As(context.Cause(ctx), &stall) {
		return stall
	}
	return err
}

// watchdog cancels a request, with a stallError, when its timer fires.
type watchdog struct {
	cancel context.CancelCauseFunc
	host   string
	timer  *time.Timer
	mu     sync.Mutex
	what   string
	after  time.Duration
	// done is set once the response headers came: the request's body
	// then arms nothing.
	done bool
}

func newWatchdog(cancel context.CancelCauseFunc, host string) *watchdog {
	w := &watchdog{cancel: cancel, host: host}
	w.timer = time.AfterFunc(time.Hour, w.fire)
	w.timer.Stop()
	return w
}

func (w *watchdog) fire() {
	w.mu.Lock()
	err := &stallError{host: w.host, what: w.what, after: w.after}
	w.mu.Unlock()
	w.cancel(err)
}

func (w *watchdog) start(d time.Duration, what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.what, w.after = what, d
	w.timer.Reset(d)
}

func (w *watchdog) pause() { w.timer.Stop() }

// pauseSending stops the timer while the request is being sent.
func (w *watchdog) pauseSending() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.timer.Stop()
	}
}

// sending arms the timer while the request is being sent.
func (w *watchdog) sending(d time.Duration, what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.what, w.after = what, d
		w.timer.Reset(d)
	}
}

func (w *watchdog) answered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	w.timer.Stop()
}

// requestBody arms the watchdog between its reads, while the transport
// writes out what it read, and for the response headers at its end.
type requestBody struct {
	io.ReadCloser
	w *watchdog
	t *stallTransport
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.w.pauseSending()
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.w.sending(b.t.header, "response headers")
	} else {
		b.w.sending(b.t.idle, "bytes")
	}
	return n, err
}

func (b *requestBody) Close() error {
	b.w.sending(b.t.header, "response headers")
	return b.ReadCloser.Close()
}

// responseBody arms the watchdog while a read waits; a read that failed
// for a stall says so.
type responseBody struct {
	io.ReadCloser
	w      *watchdog
	ctx    context.Context
	idle   time.Duration
	cancel context.CancelCauseFunc
}

func (b *responseBody) Read(p []byte) (int, error) {
	b.w.start(b.idle, "bytes")
	n, err := b.ReadCloser.Read(p)
	b.w.pause()
	if err != nil && err != io.EOF {
		err = stalled(b.ctx, err)
	}
	return n, err
}

func (b *responseBody) Close() error {
	b.w.pause()
	b.cancel(nil)
	return b.ReadCloser.Close()
}
