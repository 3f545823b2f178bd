package registry

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// testRegistry is go-containerregistry's in-process registry on plain HTTP,
// with a log of the requests it answered; opts may give it the referrers
// API (ggcrregistry.WithReferrersSupport).
type testRegistry struct {
	host string
	mu   sync.Mutex
	log  []string
	// intercept, when set, may answer a request instead of the registry.
	intercept func(w http.ResponseWriter, r *http.Request) bool
	// registry is the registry itself, for an intercept to ask.
	registry http.Handler
}

func newTestRegistry(t testing.TB, opts ...ggcrregistry.Option) *testRegistry {
	t.Helper()
	reg := ggcrregistry.New(append([]ggcrregistry.Option{ggcrregistry.Logger(log.New(io.Discard, "", 0))}, opts...)...)
	tr := &testRegistry{registry: reg}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.log = append(tr.log, r.Method+" "+r.URL.Path)
		intercept := tr.intercept
		tr.mu.Unlock()
		if intercept != nil && intercept(w, r) {
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr.host = strings.TrimPrefix(srv.URL, "http://")
	return tr
}

// count is how many requests matched method and a path containing part.
func (tr *testRegistry) count(method, part string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, l := range tr.log {
		m, path, _ := strings.Cut(l, " ")
		if m == method && strings.Contains(path, part) {
			n++
		}
	}
	return n
}

func (tr *testRegistry) reset() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.log = nil
}

// newClient is a Client for plain-HTTP test registries, anonymous.
func newClient(t testing.TB, plain ...string) *Client {
	t.Helper()
	c, err := New(Options{PlainHTTP: plain, Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// push writes an image made from s to ref on a plain-HTTP registry and
// returns its digest.
func push(t testing.TB, ref string, s registrytest.Spec) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, img, err := registrytest.Make(s)
	if err != nil {
		t.Fatal(err)
	}
	if idx != nil {
		err = remote.WriteIndex(r, idx)
		h, _ := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	return h
}

// rawManifest fetches the bytes of the manifest at ref.
func rawManifest(t *testing.T, ref string) []byte {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	return desc.Manifest
}

var threePlatforms = registrytest.Spec{
	Format:    registrytest.Docker,
	Platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"},
	Layers:    2,
	LayerSize: 4096,
	Seed:      1,
}
