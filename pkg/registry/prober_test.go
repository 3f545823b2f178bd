package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// tokenRegistry is a test registry that asks for a bearer token from its
// own token service, as Docker Hub, ECR, GHCR and Harbor do: a client
// pings /v2/, gets a token for the repository, then sends its request.
type tokenRegistry struct {
	*testRegistry
	// open lets every request through, to push test images.
	open atomic.Bool
	// deny makes the token service refuse.
	deny atomic.Bool
}

const testToken = "t0ken"

func newTokenRegistry(t testing.TB) *tokenRegistry {
	t.Helper()
	tr := &tokenRegistry{testRegistry: newTestRegistry(t)}
	challenge := fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, tr.host)
	tr.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case tr.open.Load():
			return false
		case r.URL.Path == "/token":
			if tr.deny.Load() {
				http.Error(w, `{"errors":[{"code":"DENIED","message":"no"}]}`, http.StatusUnauthorized)
				return true
			}
			fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, testToken)
			return true
		case r.Header.Get("Authorization") != "Bearer "+testToken:
			c := challenge
			if r.URL.Path != "/v2/" {
				repo, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
				c += fmt.Sprintf(`,scope="repository:%s:pull"`, repo)
			}
			w.Header().Set("WWW-Authenticate", c)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}`, http.StatusUnauthorized)
			return true
		}
		return false
	}
	return tr
}

// requests counts the requests since the last reset, by kind.
func (tr *tokenRegistry) requests() map[string]int {
	return map[string]int{"ping": tr.count("GET", "/v2/") - tr.count("GET", "/manifests/"), "token": tr.count("GET", "/token"), "HEAD": tr.count("HEAD", "/manifests/")}
}

// TestProberLogsInOncePerRepository holds the Prober to Client.Head, which
// it replaces in the webhook: the same answers, and after the first
// request to a repository, one request per HEAD instead of three.
func TestProberLogsInOncePerRepository(t *testing.T) {
	tr := newTokenRegistry(t)
	digests := map[string]string{}
	tr.open.Store(true)
	for _, ref := range []string{"team/a:1", "team/a:2", "team/b:1"} {
		spec := threePlatforms
		spec.Seed = uint64(len(digests) + 1)
		digests[ref] = push(t, tr.host+"/"+ref, spec).String()
	}
	tr.open.Store(false)
	c := newClient(t, tr.host)
	p := c.NewProber(0, 0)
	for _, tc := range []struct {
		ref  string
		want map[string]int
	}{
		{"team/a:1", map[string]int{"ping": 1, "token": 1, "HEAD": 1}},
		{"team/a:2", map[string]int{"ping": 0, "token": 0, "HEAD": 1}},
		{"team/a:1", map[string]int{"ping": 0, "token": 0, "HEAD": 1}},
		{"team/b:1", map[string]int{"ping": 1, "token": 1, "HEAD": 1}},
	} {
		img := tr.host + "/" + tc.ref
		want, err := c.Head(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if got := want.Digest.String(); got != digests[tc.ref] {
			t.Fatalf("Client.Head(%s) = %s, want %s", tc.ref, got, digests[tc.ref])
		}
		tr.reset()
		got, err := p.Head(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest != want.Digest || got.MediaType != want.MediaType || got.Size != want.Size {
			t.Errorf("Prober.Head(%s) = %+v, Client.Head = %+v", tc.ref, got, want)
		}
		if diff := fmt.Sprint(tr.requests()); diff != fmt.Sprint(tc.want) {
			t.Errorf("Prober.Head(%s) sent %s, want %s", tc.ref, diff, fmt.Sprint(tc.want))
		}
		tr.reset()
		if _, err := c.Head(context.Background(), img); err != nil {
			t.Fatal(err)
		}
		if got := tr.requests(); got["ping"] != 1 || got["token"] != 1 || got["HEAD"] != 1 {
			t.Errorf("Client.Head(%s) sent %v; the Prober saves nothing", tc.ref, got)
		}
	}
}

func TestProberMissingAndDenied(t *testing.T) {
	tr := newTokenRegistry(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config.json")
	if err := os.WriteFile(config, []byte(`{"auths":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{PlainHTTP: []string{tr.host}, ConfigFile: config})
	if err != nil {
		t.Fatal(err)
	}
	p := c.NewProber(0, 0)
	img := tr.host + "/team/none:1"
	if _, err := p.Head(context.Background(), img); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Head of a missing image: %v, want ErrNotFound", err)
	}
	tr.reset()
	if _, err := p.Head(context.Background(), img); !errors.Is(err, ErrNotFound) || tr.requests()["HEAD"] != 1 || len(tr.log) != 1 {
		t.Errorf("Head of a missing image again: %v, %v; want not found after one request", err, tr.log)
	}

	// A token that expired: the registry asks again, and the transport
	// fetches a new token by itself.
	tr.deny.Store(true)
	p2 := c.NewProber(0, 0)
	_, err = p2.Head(context.Background(), img)
	if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "check the credentials for "+tr.host+" in "+config) {
		t.Fatalf("Head with the token service refusing: %v, want access denied naming %s", err, config)
	}
	tr.deny.Store(false)
	tr.reset()
	if _, err := p2.Head(context.Background(), img); !errors.Is(err, ErrNotFound) || tr.requests()["token"] != 1 {
		t.Errorf("after a refusal: %v, %v; want a new login and not found", err, tr.requests())
	}
}

// testClock is the Prober's time, which a test moves.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) NowNano() int64                      { return c.ns.Load() }
func (c *testClock) Tick(time.Duration) <-chan time.Time { return nil }

func TestProberBounds(t *testing.T) {
	reg := newTestRegistry(t)
	repos := []string{"a", "b", "c"}
	for _, repo := range repos {
		push(t, reg.host+"/"+repo+":1", registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 10, Seed: 1})
	}
	c := newClient(t, reg.host)
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	p := c.newProber(2, time.Minute, clock)
	for _, repo := range repos {
		if _, err := p.Head(context.Background(), reg.host+"/"+repo+":1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.repositories(); n != 2 {
		t.Errorf("the Prober keeps %d repositories, want 2", n)
	}
	pings := func() int { return reg.count("GET", "/v2/") }
	// The repositories kept first, then the one dropped, which may drop
	// another.
	var order []string
	for _, repo := range repos {
		if _, kept := p.pullers.GetEntryQuietly(reg.host + "/" + repo); kept {
			order = append(order, repo)
		}
	}
	for _, repo := range repos {
		if !slices.Contains(order, repo) {
			order = append(order, repo)
		}
	}
	for i, repo := range order {
		reg.reset()
		p.Head(context.Background(), reg.host+"/"+repo+":1")
		if want := i / 2; pings() != want {
			t.Errorf("a HEAD in repository %s, kept: %v: %d logins, want %d", repo, want == 0, pings(), want)
		}
	}
	clock.ns.Add(int64(2 * time.Minute))
	reg.reset()
	p.Head(context.Background(), reg.host+"/a:1")
	if pings() != 1 {
		t.Error("a transport older than maxAge was used")
	}
}

// BenchmarkHead measures a HEAD request to a registry with a token
// service, go-containerregistry's in-process one behind the token flow of
// tokenRegistry: Client.Head logs in each time, the Prober once per
// repository.
func BenchmarkHead(b *testing.B) {
	tr := newTokenRegistry(b)
	tr.open.Store(true)
	push(b, tr.host+"/team/app:1", threePlatforms)
	tr.open.Store(false)
	c := newClient(b, tr.host)
	img := tr.host + "/team/app:1"
	for _, bc := range []struct {
		name string
		head func(context.Context, string) (*v1.Descriptor, error)
	}{{"Client", c.Head}, {"Prober", c.NewProber(0, 0).Head}} {
		b.Run(bc.name, func(b *testing.B) {
			tr.reset()
			for b.Loop() {
				if _, err := bc.head(context.Background(), img); err != nil {
					b.Fatal(err)
				}
			}
			tr.mu.Lock()
			b.ReportMetric(float64(len(tr.log))/float64(b.N), "requests/op")
			tr.mu.Unlock()
		})
	}
}
