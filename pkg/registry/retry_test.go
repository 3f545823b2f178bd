package registry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// scripted answers each request with the next status of a script (and
// Retry-After when given), then 200; it records the requests' bodies.
type scripted struct {
	mu      sync.Mutex
	answers []answer
	bodies  []string
}

type answer struct {
	status     int
	retryAfter string
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, string(body))
	var a answer
	if len(s.answers) > 0 {
		a, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	w.WriteHeader(a.status)
}

// recordingTransport is a retryTransport whose waits are recorded, not
// slept.
func recordingTransport(waits *[]time.Duration) *retryTransport {
	return &retryTransport{
		inner:  http.DefaultTransport,
		policy: Retry{}.withDefaults(),
		sleep: func(ctx context.Context, d time.Duration) error {
			*waits = append(*waits, d)
			return ctx.Err()
		},
	}
}

func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string
		answers []answer
		// wantStatus is the status the caller sees; wantTries the requests
		// the server got; wantWaits the waits, rounded to the second
		// (backoff has jitter).
		wantStatus int
		wantTries  int
		wantWaits  []time.Duration
	}{
		{"429 with Retry-After", "GET", []answer{{429, "3"}}, 200, 2, []time.Duration{3 * time.Second}},
		{"Retry-After as a date", "HEAD", []answer{{503, time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat)}}, 200, 2, []time.Duration{5 * time.Second}},
		{"Retry-After beyond the cap is not waited for", "GET", []answer{{429, "3600"}}, 429, 1, nil},
		{"5xx backs off exponentially, then gives up", "GET",
			[]answer{{500, ""}, {502, ""}, {503, ""}, {504, ""}, {500, ""}}, 500, 5,
			[]time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}},
		{"not found is an answer", "GET", []answer{{404, ""}}, 404, 1, nil},
		{"denied is an answer", "GET", []answer{{401, ""}}, 401, 1, nil},
		{"501 will not change", "GET", []answer{{501, ""}}, 501, 1, nil},
		{"a PUT is sent again with its body", "PUT", []answer{{503, "1"}}, 200, 2, []time.Duration{time.Second}},
		{"a PATCH is never sent twice", "PATCH", []answer{{500, ""}}, 500, 1, nil},
		{"a PATCH told to wait waits, then fails", "PATCH", []answer{{429, "2"}}, 429, 1, []time.Duration{2 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{answers: tc.answers}
			srv := httptest.NewServer(s)
			defer srv.Close()
			var waits []time.Duration
			tr := recordingTransport(&waits)
			var body io.Reader
			if tc.method == "PUT" || tc.method == "PATCH" {
				body = bytes.NewBufferString("manifest bytes")
			}
			req, _ := http.NewRequest(tc.method, srv.URL, body)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if len(s.bodies) != tc.wantTries {
				t.Errorf("%d requests, want %d", len(s.bodies), tc.wantTries)
			}
			if body != nil {
				for i, b := range s.bodies {
					if b != "manifest bytes" {
						t.Errorf("request %d had body %q", i+1, b)
					}
				}
			}
			// Backoff has 20% of jitter, and an HTTP date has whole
			// seconds: a wait within 20% of the one wanted counts as it.
			var got []time.Duration
			for i, w := range waits {
				if i < len(tc.wantWaits) && w >= tc.wantWaits[i]*8/10 && w <= tc.wantWaits[i]*12/10 {
					w = tc.wantWaits[i]
				}
				got = append(got, w)
			}
			if diff := cmp.Diff(tc.wantWaits, got); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRetryConnectionError: a connection dropped before any answer is a
// connection error, and is tried again.
func TestRetryConnectionError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{}
	srv := &http.Server{Handler: s}
	var once sync.Once
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dropped := false
			once.Do(func() { c.Close(); dropped = true })
			if !dropped {
				go srv.Serve(&oneConn{c: c})
			}
		}
	}()
	defer ln.Close()
	var waits []time.Duration
	tr := recordingTransport(&waits)
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/v2/", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(waits) != 1 {
		t.Errorf("status %d after %d waits, want 200 after 1", resp.StatusCode, len(waits))
	}
}

// oneConn is a listener that hands out one connection.
type oneConn struct {
	c    net.Conn
	done bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.done {
		select {}
	}
	l.done = true
	return l.c, nil
}
func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }

// TestRetryStopsOnCancel: Ctrl-C does not wait out a Retry-After.
func TestRetryStopsOnCancel(t *testing.T) {
	srv := httptest.NewServer(&scripted{answers: []answer{{429, "50"}}})
	defer srv.Close()
	tr := &retryTransport{inner: http.DefaultTransport, policy: Retry{}.withDefaults(), sleep: sleepContext}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop", d)
	}
}

func TestUploadRetry(t *testing.T) {
	patch, _ := http.NewRequest("PATCH", "http://r/v2/x/blobs/uploads/1", nil)
	get, _ := http.NewRequest("GET", "http://r/v2/x/manifests/1", nil)
	put, _ := http.NewRequest("PUT", "http://r/v2/x/manifests/1", nil)
	raced := &transport.Error{StatusCode: 400, Request: put, Errors: []transport.Diagnostic{{Code: transport.DigestInvalidErrorCode}, {Code: transport.ManifestBlobUnknownErrorCode}}}
	invalid := &transport.Error{StatusCode: 400, Request: put, Errors: []transport.Diagnostic{{Code: transport.ManifestInvalidErrorCode}}}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"PATCH 503", terror(patch, 503), true},
		{"PATCH 400", terror(patch, 400), false},
		{"GET 503, already retried", terror(get, 503), false},
		{"PATCH connection reset", &url.Error{Op: "Patch", Err: io.ErrUnexpectedEOF}, true},
		{"GET connection reset, already retried", &url.Error{Op: "Get", Err: io.ErrUnexpectedEOF}, false},
		{"PATCH cancelled", &url.Error{Op: "Patch", Err: context.Canceled}, false},
		{"manifest PUT raced with an upload", raced, true},
		{"manifest PUT refused as invalid", invalid, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := uploadRetry(tc.err); got != tc.want {
				t.Errorf("uploadRetry = %v, want %v", got, tc.want)
			}
		})
	}
}

func terror(req *http.Request, code int) error {
	return &transport.Error{StatusCode: code, Request: req}
}
