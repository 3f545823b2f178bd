package registry

import (
	"context"
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestSubsetSource reads back what a platform subset records of its
// source, through a Client and a Prober; an index copied whole and a
// single image record nothing.
func TestSubsetSource(t *testing.T) {
	reg := newTestRegistry(t)
	c := newClient(t, reg.host)
	src := reg.host + "/src/app:1"
	digest := push(t, src, threePlatforms)
	platforms := []v1.Platform{{OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "amd64"}}
	ctx := context.Background()
	if _, err := c.Copy(ctx, src, reg.host+"/mirror/app:1", CopyOptions{Platforms: platforms}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(ctx, src, reg.host+"/mirror/whole:1", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	one := threePlatforms
	one.Platforms, one.Single = one.Platforms[:1], true
	push(t, reg.host+"/mirror/one:1", one)
	p := c.NewProber(0, 0)
	for _, sr := range []interface {
		SubsetSource(context.Context, string) (string, string, error)
	}{c, p} {
		source, got, err := sr.SubsetSource(ctx, reg.host+"/mirror/app:1")
		if err != nil || source != digest.String() || got != "linux/amd64,linux/arm64" {
			t.Errorf("%T: the subset records %q, %q, %v", sr, source, got, err)
		}
		for _, img := range []string{reg.host + "/mirror/whole:1", reg.host + "/mirror/one:1"} {
			if source, got, err := sr.SubsetSource(ctx, img); source != "" || got != "" || err != nil {
				t.Errorf("%T: %s records %q, %q, %v", sr, img, source, got, err)
			}
		}
		if _, _, err := sr.SubsetSource(ctx, reg.host+"/mirror/gone:1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("%T: a missing image: %v", sr, err)
		}
	}
}
