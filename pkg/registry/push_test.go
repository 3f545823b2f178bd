package registry

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// TestPush writes an index by its tag, byte for byte, and refuses a
// digest and a registry that denies access.
func TestPush(t *testing.T) {
	reg := newTestRegistry(t)
	c := newClient(t, reg.host)
	spec := threePlatforms
	spec.Format = registrytest.OCI
	idx, _, err := registrytest.Make(spec)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.RawManifest()
	wantDigest, _ := idx.Digest()

	got, err := c.Push(context.Background(), reg.host+"/kmirror/kmirror:v1", idx)
	if err != nil {
		t.Fatal(err)
	}
	if got != wantDigest.String() {
		t.Errorf("Push = %s, want %s", got, wantDigest)
	}
	if raw := rawManifest(t, reg.host+"/kmirror/kmirror:v1"); !bytes.Equal(raw, want) {
		t.Errorf("the tag names\n%s\nwant\n%s", raw, want)
	}
	m, _ := idx.IndexManifest()
	for _, d := range m.Manifests {
		rawManifest(t, reg.host+"/kmirror/kmirror@"+d.Digest.String())
	}

	if _, err := c.Push(context.Background(), reg.host+"/kmirror/kmirror@"+wantDigest.String(), idx); err == nil ||
		!strings.Contains(err.Error(), "give a tag, not a digest") {
		t.Errorf("Push to a digest: %v", err)
	}

	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	if _, err := c.Push(context.Background(), reg.host+"/kmirror/kmirror:v2", idx); !errors.Is(err, ErrDenied) {
		t.Errorf("Push to a registry that denies access: %v, want ErrDenied", err)
	}
}
