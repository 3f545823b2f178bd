package registry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestDownRegistryMessage: a registry on a private address that does not
// answer is not said to want plain HTTP; one that answers HTTPS in plain
// HTTP is.
func TestDownRegistryMessage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	plainHost := strings.TrimPrefix(plain.URL, "http://")

	c, err := New(Options{Retry: Retry{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Head(context.Background(), down+"/app:1")
	if err == nil || strings.Contains(err.Error(), "plain") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("a registry that is down: %v", err)
	}
	_, err = c.Head(context.Background(), plainHost+"/app:1")
	if err == nil || !strings.Contains(err.Error(), "allow it with --plain-http "+plainHost) {
		t.Errorf("a registry that speaks plain HTTP: %v", err)
	}
}

// TestRateLimitMessage: a request given up on with 429 says how long the
// registry asked to wait, in its last answer.
func TestRateLimitMessage(t *testing.T) {
	for _, tc := range []struct {
		name  string
		retry Retry
		after []string
		want  string
	}{
		{"beyond the longest wait", Retry{}, []string{"7200"}, "and asked to wait 2h0m0s"},
		{"after every try", Retry{Attempts: 2, Wait: time.Millisecond}, []string{"0", "1"}, "and asked to wait 1s"},
		{"without Retry-After", Retry{Attempts: 1}, []string{""}, "without saying how long to wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					return
				}
				if a := tc.after[min(n, len(tc.after)-1)]; a != "" {
					w.Header().Set("Retry-After", a)
				}
				n++
				w.WriteHeader(http.StatusTooManyRequests)
			}))
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(srv.URL, "http://")
			c, err := New(Options{PlainHTTP: []string{host}, Retry: tc.retry})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Head(context.Background(), host+"/app:1")
			if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), host+" is rate limiting (") || !strings.HasSuffix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error ending %q", err, tc.want)
			}
		})
	}
}
