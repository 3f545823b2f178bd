package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// TestCopyIndex copies a Docker manifest list, an OCI index and a single
// image, and finds every manifest in the mirror byte for byte; a second
// copy writes nothing.
func TestCopyIndex(t *testing.T) {
	reg, mirror := newTestRegistry(t), newTestRegistry(t)
	c := newClient(t, reg.host, mirror.host)
	oci := threePlatforms
	oci.Format, oci.Seed = registrytest.OCI, 2
	single := registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 3, LayerSize: 1000, Seed: 3}
	for _, tc := range []struct {
		name string
		spec registrytest.Spec
	}{{"docker manifest list", threePlatforms}, {"oci index", oci}, {"single image", single}} {
		t.Run(tc.name, func(t *testing.T) {
			repo := strings.ReplaceAll(tc.name, " ", "-")
			src, dst := reg.host+"/src/"+repo+":1", mirror.host+"/mirror/"+repo+":1"
			digest := push(t, src, tc.spec)
			var last [2]int64
			res, err := c.Copy(context.Background(), src, dst, CopyOptions{Progress: func(c, t int64) { last = [2]int64{c, t} }})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Copied || res.Digest != digest.String() || res.Source != digest.String() {
				t.Errorf("copy = %+v, want copied %s", res, digest)
			}
			if res.Bytes < int64(tc.spec.Layers*tc.spec.LayerSize) {
				t.Errorf("sent %d bytes, want at least one image's layers", res.Bytes)
			}
			if last[0] != last[1] || last[1] < res.Bytes {
				t.Errorf("last progress %d of %d, want all of at least %d", last[0], last[1], res.Bytes)
			}
			want := rawManifest(t, src)
			if got := rawManifest(t, dst); !bytes.Equal(got, want) {
				t.Errorf("mirror manifest differs:\n%s\nwant\n%s", got, want)
			}
			if idx, _, _ := registrytest.Make(tc.spec); idx != nil {
				m, _ := idx.IndexManifest()
				for _, d := range m.Manifests {
					if !bytes.Equal(rawManifest(t, mirror.host+"/mirror/"+repo+"@"+d.Digest.String()), rawManifest(t, reg.host+"/src/"+repo+"@"+d.Digest.String())) {
						t.Errorf("child %s differs", d.Digest)
					}
				}
			}

			reg.reset()
			mirror.reset()
			res, err = c.Copy(context.Background(), src, dst, CopyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Copied || !res.Present || res.Bytes != 0 {
				t.Errorf("second copy = %+v, want present", res)
			}
			for _, r := range []*testRegistry{reg, mirror} {
				for _, m := range []string{"PUT", "PATCH", "POST", "DELETE"} {
					if n := r.count(m, "/v2/"); n > 0 {
						t.Errorf("second copy sent %d %s requests", n, m)
					}
				}
				if n := r.count("GET", "/manifests/") + r.count("GET", "/blobs/"); n > 0 {
					t.Errorf("second copy sent %d GET requests for manifests or blobs", n)
				}
				if r.count("HEAD", "/manifests/") != 1 {
					t.Errorf("second copy sent %d HEAD requests to %s, want 1", r.count("HEAD", "/manifests/"), r.host)
				}
			}
		})
	}
}

// TestCopyPinned: a "repo:tag@digest" source is copied by its digest, and
// the mirror's tag written (or moved) only when the source's tag names that
// digest now; a pinned digest the mirror holds is present, whatever the
// mirror's tag names.
func TestCopyPinned(t *testing.T) {
	reg := newTestRegistry(t)
	c := newClient(t, reg.host)
	src, mirror := reg.host+"/src/app", reg.host+"/mirror/app"
	older := push(t, src+":v1", threePlatforms).String()
	newer := push(t, src+":v1", registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 100, Seed: 9}).String()
	for i, tc := range []struct {
		name string
		// tag and digest make the source "src/app:tag@digest" and the
		// target "mirror/appN:tag@digest".
		tag, digest string
		// mirrorTag is what the mirror's tag names before the copy, "" none.
		mirrorTag string
		// wantTag is what the mirror's tag names after it, "" none.
		wantTag    string
		digestOnly bool
	}{
		{name: "the source's tag names another digest: the digest alone", tag: "v1", digest: older, digestOnly: true},
		{name: "the mirror's tag is not moved back", tag: "v1", digest: older, mirrorTag: newer, wantTag: newer, digestOnly: true},
		{name: "the source's tag names the digest: tagged", tag: "v1", digest: newer, wantTag: newer},
		{name: "the mirror's tag moves as the source's did", tag: "v1", digest: newer, mirrorTag: older, wantTag: newer},
		{name: "a tag the source does not have is not made", tag: "v9", digest: newer, digestOnly: true},
		{name: "a digest alone", digest: newer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := fmt.Sprintf("%s%d", mirror, i)
			from, to := src+"@"+tc.digest, repo+"@"+tc.digest
			if tc.tag != "" {
				from, to = src+":"+tc.tag+"@"+tc.digest, repo+":"+tc.tag+"@"+tc.digest
			}
			if tc.mirrorTag != "" {
				copyDigest(t, src+"@"+tc.mirrorTag, repo+":"+tc.tag)
			}
			reg.reset()
			res, err := c.Copy(context.Background(), from, to, CopyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := CopyResult{Copied: true, Digest: tc.digest, DigestOnly: tc.digestOnly}
			res.State, res.Bytes = State{}, 0
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("copy (-want +got):\n%s", diff)
			}
			if d, err := c.Head(context.Background(), to); err != nil || d.Digest.String() != tc.digest {
				t.Errorf("the mirror's digest: %v, %v", d, err)
			}
			if tc.tag != "" {
				if got := tagDigest(t, c, repo+":"+tc.tag); got != tc.wantTag {
					t.Errorf("the mirror's tag names %q, want %q", got, tc.wantTag)
				}
			}
			if n := reg.count("HEAD", "/src/app/manifests/v"); tc.tag != "" && n != 1 {
				t.Errorf("the source's tag was asked %d times, want once", n)
			}
			if n := reg.count("GET", "/src/app/manifests/v"); n != 0 {
				t.Errorf("the source's tag was read %d times", n)
			}
		})
	}

	// A pinned digest the mirror holds is present, whatever its tag names.
	reg.reset()
	res, err := c.Copy(context.Background(), src+":v1@"+older, mirror+"1:v1@"+older, CopyOptions{})
	if err != nil || res.Copied || !res.Present {
		t.Errorf("copy of a digest the mirror holds: %+v, %v; want present", res, err)
	}
	if n := reg.count("PUT", "/v2/") + reg.count("HEAD", "/src/"); n != 0 {
		t.Errorf("a present digest took %d PUT requests and HEAD requests to the source", n)
	}
}

// copyDigest copies the image at from, by its digest, to the tag to, on a
// plain-HTTP registry.
func copyDigest(t *testing.T, from, to string) {
	t.Helper()
	s, err := name.NewDigest(from, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(s)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.NewTag(to, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Push(dst, desc); err != nil {
		t.Fatal(err)
	}
}

// tagDigest is the digest tag names, "" when it names none.
func tagDigest(t *testing.T, c *Client, tag string) string {
	t.Helper()
	d, err := c.Head(context.Background(), tag)
	if errors.Is(err, ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest.String()
}

// TestCopyTagsAtOnce: concurrent copies of several tags of one image into
// one repository copy each manifest once, then write each tag; a manifest
// PUT that distribution refuses for a race with an upload is sent again.
func TestCopyTagsAtOnce(t *testing.T) {
	reg := newTestRegistry(t)
	c := newClient(t, reg.host)
	digest := push(t, reg.host+"/src/app:1", threePlatforms).String()
	var mu sync.Mutex
	refused := false
	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		switch {
		case r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/mirror/app/manifests/sha256:"):
			// Slow, so that every copy is under way at once.
			time.Sleep(50 * time.Millisecond)
		case r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/mirror/app/manifests/"):
			mu.Lock()
			defer mu.Unlock()
			if !refused {
				refused = true
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"},{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}`)
				return true
			}
		}
		return false
	}
	tags := []string{"a", "b", "c", "d", "e", "f"}
	var wg sync.WaitGroup
	for _, tag := range tags {
		wg.Go(func() {
			res, err := c.Copy(context.Background(), reg.host+"/src/app:1", reg.host+"/mirror/app:"+tag, CopyOptions{})
			if err != nil || !res.Copied || res.Digest != digest {
				t.Errorf("copy to %s: %+v, %v", tag, res, err)
			}
		})
	}
	wg.Wait()
	// 3 platform images and the index by digest, once each, and one
	// sent again; then the six tags.
	if n := reg.count("PUT", "/mirror/app/manifests/sha256:"); n != 5 {
		t.Errorf("%d manifest PUTs by digest, want 5: each manifest once, one twice", n)
	}
	for _, tag := range tags {
		if n := reg.count("PUT", "/mirror/app/manifests/"+tag); n != 1 || tagDigest(t, c, reg.host+"/mirror/app:"+tag) != digest {
			t.Errorf("tag %s: %d PUTs", tag, n)
		}
	}
}

// TestCopyPlatforms copies a subset of an index: a new index, recognised
// as current by the next Check.
func TestCopyPlatforms(t *testing.T) {
	reg := newTestRegistry(t)
	c := newClient(t, reg.host)
	src, dst := reg.host+"/src/app:1", reg.host+"/mirror/app:1"
	digest := push(t, src, threePlatforms)
	arm64, _ := v1.ParsePlatform("linux/arm64")
	amd64, _ := v1.ParsePlatform("linux/amd64")
	platforms := []v1.Platform{*arm64, *amd64}
	res, err := c.Copy(context.Background(), src, dst, CopyOptions{Platforms: platforms})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Copied || res.Digest == digest.String() {
		t.Errorf("copy = %+v, want a new index", res)
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(rawManifest(t, dst)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range m.Manifests {
		got = append(got, d.Platform.String())
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, got); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	wantAnn := map[string]string{AnnotationSource: digest.String(), AnnotationPlatforms: "linux/amd64,linux/arm64"}
	if diff := cmp.Diff(wantAnn, m.Annotations); diff != "" {
		t.Errorf("annotations (-want +got):\n%s", diff)
	}
	if m.MediaType != "application/vnd.docker.distribution.manifest.list.v2+json" {
		t.Errorf("media type %s", m.MediaType)
	}

	st, err := c.Check(context.Background(), src, dst, platforms)
	if err != nil || !st.Present {
		t.Errorf("check after the copy = %+v, %v; want present", st, err)
	}
	if st, _ := c.Check(context.Background(), src, dst, platforms[:1]); st.Present {
		t.Error("another subset counts as present")
	}
	if st, _ := c.Check(context.Background(), src, dst, nil); st.Present {
		t.Error("the subset counts as the whole index")
	}

	_, err = c.Copy(context.Background(), reg.host+"/src/app@"+digest.String(), reg.host+"/mirror/app@"+digest.String(), CopyOptions{Platforms: platforms})
	if !errors.Is(err, ErrPinnedPlatform) {
		t.Errorf("pinned copy with platforms: %v, want ErrPinnedPlatform", err)
	}
	s390x, _ := v1.ParsePlatform("linux/s390x")
	if _, err := c.Copy(context.Background(), src, reg.host+"/mirror/none:1", CopyOptions{Platforms: []v1.Platform{*s390x}}); err == nil || !strings.Contains(err.Error(), "none of the platforms linux/s390x") {
		t.Errorf("copy of a missing platform: %v", err)
	}
}

func TestHeadErrors(t *testing.T) {
	reg := newTestRegistry(t)
	c := newClient(t, reg.host)
	push(t, reg.host+"/app:1", registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 10})
	if _, err := c.Head(context.Background(), reg.host+"/app:1"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Head(context.Background(), reg.host+"/app:2")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "not found in "+reg.host) {
		t.Errorf("missing tag: %v", err)
	}
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path == "/v2/" {
				return false
			}
			w.WriteHeader(code)
			return true
		}
		_, err = c.Head(context.Background(), reg.host+"/app:1")
		if !errors.Is(err, ErrDenied) || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), reg.host+" denied access") {
			t.Errorf("%d: %v", code, err)
		}
	}
	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	c, _ = New(Options{PlainHTTP: []string{reg.host}, Retry: Retry{Attempts: 2, Wait: time.Millisecond}})
	if _, err = c.Head(context.Background(), reg.host+"/app:1"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("503: %v", err)
	}
}

// TestRetryAfterRegistry: a registry that answers 429 with Retry-After
// once is waited for, and then answers.
func TestRetryAfterRegistry(t *testing.T) {
	reg := newTestRegistry(t)
	c := newClient(t, reg.host)
	push(t, reg.host+"/app:1", registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 10})
	limited := false
	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if limited || !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		limited = true
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	start := time.Now()
	if _, err := c.Head(context.Background(), reg.host+"/app:1"); err != nil {
		t.Fatal(err)
	}
	if !limited || time.Since(start) < time.Second {
		t.Errorf("answered after %v, without waiting the Retry-After of 1s (limited: %v)", time.Since(start), limited)
	}
}

// TestPlainHTTP: plain HTTP only for the registries named.
func TestPlainHTTP(t *testing.T) {
	reg := newTestRegistry(t)
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Head(context.Background(), reg.host+"/app:1")
	if err == nil || !strings.Contains(err.Error(), "refusing plain HTTP to "+reg.host) {
		t.Errorf("got %v, want a refusal", err)
	}
	if n := reg.count("GET", "/v2/"); n != 0 {
		t.Errorf("the registry got %d plain requests", n)
	}
	if _, err := New(Options{PlainHTTP: []string{"host/path"}}); err == nil {
		t.Error("a repository was taken for a registry")
	}
}
