package mirrorcheck

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/registry"
)

// TestCheckerOnARegistry asks go-containerregistry's registry through a
// registry.Prober: an image it holds is present, one it lacks missing, and
// a registry that is gone an error.
func TestCheckerOnARegistry(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	host := strings.TrimPrefix(srv.URL, "http://")
	_, img, err := registrytest.Make(registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/mirror/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(registry.Options{PlainHTTP: []string{host}, Keychain: authn.NewMultiKeychain(), Retry: registry.Retry{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	c := New(client.NewProber(0, 0), testOptions())
	got, _ := check(c, host+"/mirror/app:1", host+"/mirror/app:2", host+"/other/x:1")
	if s := strings.Join(states(got), " "); s != "present missing missing" {
		t.Errorf("states %s", s)
	}
	srv.Close()
	got, _ = check(c, host+"/mirror/app:3")
	if got[0].State != Failed || !strings.Contains(got[0].Reason, "connection refused") {
		t.Errorf("with the registry gone: %+v", got[0])
	}
}
