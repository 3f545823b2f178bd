package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Retry is the retry policy of every request a Client sends.
type Retry struct {
	// Attempts is how many times one request is tried in all; 1 turns
	// retries off. Zero means 5.
	Attempts int
	// Wait is the first wait; each next one doubles it, with 20% jitter.
	// Zero means 500ms.
	Wait time.Duration
	// MaxWait caps a wait. A Retry-After longer than MaxWait is not waited
	// for: the request fails at once with the registry's answer (Docker
	// Hub's pull limit asks for hours). Zero means 60s.
	MaxWait time.Duration
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 5
	}
	if r.Wait <= 0 {
		r.Wait = 500 * time.Millisecond
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 60 * time.Second
	}
	return r
}

// backoff is the wait before try number attempt+1, after try number
// attempt failed with resp (nil on a connection error).
func (r Retry) backoff(attempt int, resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp != nil {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), now); ok {
			return d, d <= r.MaxWait
		}
	}
	d := r.Wait << (attempt - 1)
	if d <= 0 || d > r.MaxWait {
		d = r.MaxWait
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64())), true
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// retryStatus reports whether a response with this status is worth trying
// again: rate limits and server errors, but not 501 or 505, which will not
// change.
func retryStatus(code int) bool {
	switch {
	case code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		return true
	case code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return false
	default:
		return code >= 500 && code <= 599
	}
}

// retryError reports whether a connection error is worth trying again.
// Certificate errors, unknown hosts and cancellations are not.
func retryError(err error) bool {
	var (
		dns      *net.DNSError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		plain    *plainHTTPError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname),
		errors.As(err, &plain), errors.As(err, &dns) && dns.IsNotFound:
		return false
	}
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &netErr)
}

// retryTransport retries each request by the policy. A request whose body
// cannot be sent again is tried once; so is every PATCH, which streams a
// blob into an upload session that a second PATCH would append to. Such a
// request that gets a Retry-After is answered after that wait, so that
// whoever retries the whole upload (uploadRetry) starts no sooner than the
// registry asked.
type retryTransport struct {
	inner  http.RoundTripper
	policy Retry
	// sleep waits for d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	replayable := req.Method != http.MethodPatch &&
		(req.Body == nil || req.Body == http.NoBody || req.GetBody != nil)
	for attempt := 1; ; attempt++ {
		try := req
		if attempt > 1 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			try = req.Clone(req.Context())
			try.Body = body
		}
		resp, err := t.inner.RoundTrip(try)
		again := (err != nil && retryError(err)) || (err == nil && retryStatus(resp.StatusCode))
		if !again || attempt >= t.policy.Attempts {
			return askedWait(resp), err
		}
		wait, ok := t.policy.backoff(attempt, resp, time.Now())
		if !ok {
			return askedWait(resp), err
		}
		if !replayable {
			if resp != nil && resp.Header.Get("Retry-After") != "" {
				if err := t.sleep(req.Context(), wait); err != nil {
					resp.Body.Close()
					return nil, err
				}
			}
			return askedWait(resp), err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := t.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

// askedWaitKey keys the wait that a 429's Retry-After asked for, in the
// context of the response's request.
type askedWaitKey struct{}

// askedWait records on a 429 response given up on the wait its Retry-After
// asked for, where wrap finds it: go-containerregistry's error keeps the
// request, not the response.
func askedWait(resp *http.Response) *http.Response {
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Request == nil {
		return resp
	}
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
		resp.Request = resp.Request.WithContext(context.WithValue(resp.Request.Context(), askedWaitKey{}, d))
	}
	return resp
}

// sleepContext waits for d, or returns ctx's error when ctx ends first, so
// that Ctrl-C never waits out a backoff.
func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// uploadRetry is ggcr's retry predicate: whether to start a blob upload or
// a manifest write over after err. retryTransport has already retried
// every request but a blob's PATCH, so only a PATCH that failed in a way
// worth retrying starts the upload over, and a manifest that raced with
// an upload is written again.
func uploadRetry(err error) bool {
	var (
		terr *transport.Error
		uerr *url.Error
	)
	switch {
	case errors.As(err, &terr):
		return terr.Request != nil && (terr.Request.Method == http.MethodPatch && retryStatus(terr.StatusCode) || racedManifest(terr))
	case errors.As(err, &uerr):
		return uerr.Op == "Patch" && retryError(uerr.Err)
	}
	return false
}

// racedManifest reports whether a registry refused a manifest PUT as
// distribution does when an upload of one of its blobs into the same
// repository runs at the same time: it reads its link to the blob while
// the upload rewrites it, and answers DIGEST_INVALID and
// MANIFEST_BLOB_UNKNOWN. The same PUT succeeds a moment later.
func racedManifest(terr *transport.Error) bool {
	if terr.Request.Method != http.MethodPut || !strings.Contains(terr.Request.URL.Path, "/manifests/") {
		return false
	}
	for _, d := range terr.Errors {
		if d.Code == transport.DigestInvalidErrorCode || d.Code == transport.ManifestBlobUnknownErrorCode {
			return true
		}
	}
	return false
}
