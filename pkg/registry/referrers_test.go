package registry

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// pushSigned pushes an index to repo:1, with what registrytest.Attach
// attaches to it: a cosign signature under its tag, an SBOM referrer, a
// cosign signature of the SBOM as a referrer of it, and a cosign
// signature of the first (amd64) image as a referrer of that child.
func pushSigned(t *testing.T, repo string) *registrytest.Attached {
	t.Helper()
	a, err := registrytest.Attach(mustRepo(t, repo), push(t, repo+":1", threePlatforms))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustRepo(t *testing.T, repo string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// referrers lists the digests of the referrers of subject in repo, as a
// verifier finds them: through the referrers API, or the fallback tag.
func referrers(t *testing.T, repo string, subject v1.Hash) []string {
	t.Helper()
	idx, err := remote.Referrers(mustRepo(t, repo).Digest(subject.String()))
	if err != nil {
		t.Fatalf("listing the referrers of %s in %s: %v", subject, repo, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range im.Manifests {
		out = append(out, d.Digest.String())
	}
	return out
}

// TestCopyReferrers copies a signed image with its SBOM between
// registries with and without the referrers API: every artifact lands
// byte for byte, listed where a verifier looks (the fallback tag on a
// mirror without the API), and the signatures verify in the mirror; a
// second copy writes nothing.
func TestCopyReferrers(t *testing.T) {
	api := ggcrregistry.WithReferrersSupport(true)
	for _, tc := range []struct {
		name                 string
		srcOpts, mirrorOpts  []ggcrregistry.Option
		wantFallbackInMirror bool
	}{
		{"without the api on either side", nil, nil, true},
		{"from a source with the api", []ggcrregistry.Option{api}, nil, true},
		{"into a mirror with the api", nil, []ggcrregistry.Option{api}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, mirror := newTestRegistry(t, tc.srcOpts...), newTestRegistry(t, tc.mirrorOpts...)
			c := newClient(t, reg.host, mirror.host)
			srcRepo, dstRepo := reg.host+"/src/app", mirror.host+"/mirror/app"
			s := pushSigned(t, srcRepo)

			res, err := c.Copy(context.Background(), srcRepo+":1", dstRepo+":1", CopyOptions{Referrers: true})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Copied || res.Referrers != (ReferrerCount{Copied: 4}) {
				t.Errorf("copy = %+v, want the image and 4 referrers copied", res)
			}
			sigTag := registrytest.SignatureTag(s.Image.Digest)
			for _, ref := range []string{":" + sigTag, "@" + s.SBOM.String(), "@" + s.SBOMSignature.String(), "@" + s.ChildSignature.String()} {
				if got, want := rawManifest(t, dstRepo+ref), rawManifest(t, srcRepo+ref); !bytes.Equal(got, want) {
					t.Errorf("%s differs in the mirror:\n%s\nwant\n%s", ref, got, want)
				}
			}
			for subject, want := range map[v1.Hash][]string{
				s.Image.Digest: {s.SBOM.String()},
				s.SBOM:         {s.SBOMSignature.String()},
				s.Child.Digest: {s.ChildSignature.String()},
			} {
				if diff := cmp.Diff(want, referrers(t, dstRepo, subject)); diff != "" {
					t.Errorf("the mirror's referrers of %s (-want +got):\n%s", subject, diff)
				}
			}
			dst := mustRepo(t, dstRepo)
			for ref, subject := range map[string]v1.Hash{":" + sigTag: s.Image.Digest, "@" + s.SBOMSignature.String(): s.SBOM, "@" + s.ChildSignature.String(): s.Child.Digest} {
				if err := registrytest.VerifyCosign(rawManifest(t, dstRepo+ref), dst, &s.Key.PublicKey, subject); err != nil {
					t.Errorf("the mirror's signature %s: %v", ref, err)
				}
			}
			_, err = remote.Head(dst.Tag(digestTag(s.Image.Digest)))
			if hasFallback := err == nil; hasFallback != tc.wantFallbackInMirror {
				t.Errorf("the mirror has the fallback tag: %v, want %v", hasFallback, tc.wantFallbackInMirror)
			}

			mirror.reset()
			res, err = c.Copy(context.Background(), srcRepo+":1", dstRepo+":1", CopyOptions{Referrers: true})
			if err != nil {
				t.Fatal(err)
			}
			if res.Copied || res.Referrers != (ReferrerCount{Present: 4}) || res.Bytes != 0 {
				t.Errorf("second copy = %+v, want the image and 4 referrers present", res)
			}
			for _, m := range []string{"PUT", "PATCH", "POST", "DELETE"} {
				if n := mirror.count(m, "/v2/"); n > 0 {
					t.Errorf("second copy sent %d %s requests to the mirror", n, m)
				}
			}
		})
	}
}

// TestCopyReferrersOff copies the image alone without Referrers, and with
// a platform subset the referrers of the children it keeps, not those of
// the source's index, whose digest the mirror does not hold.
func TestCopyReferrersOff(t *testing.T) {
	reg := newTestRegistry(t)
	c := newClient(t, reg.host)
	repo := reg.host + "/src/app"
	s := pushSigned(t, repo)

	res, err := c.Copy(context.Background(), repo+":1", reg.host+"/plain/app:1", CopyOptions{})
	if err != nil || !res.Copied || res.Referrers != (ReferrerCount{}) {
		t.Errorf("copy without referrers = %+v, %v", res, err)
	}
	if _, err := c.Head(context.Background(), reg.host+"/plain/app:"+registrytest.SignatureTag(s.Image.Digest)); err == nil {
		t.Error("a copy without Referrers copied the signature")
	}

	amd64 := []v1.Platform{{OS: "linux", Architecture: "amd64"}}
	res, err = c.Copy(context.Background(), repo+":1", reg.host+"/subset/app:1", CopyOptions{Platforms: amd64, Referrers: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Referrers != (ReferrerCount{Copied: 1}) {
		t.Errorf("subset copy = %+v, want the child's signature alone", res)
	}
	if diff := cmp.Diff([]string{s.ChildSignature.String()}, referrers(t, reg.host+"/subset/app", s.Child.Digest)); diff != "" {
		t.Errorf("the child's referrers (-want +got):\n%s", diff)
	}
}

// TestCopyReferrersRelists writes again a referrer that the mirror holds
// but does not list, as a copy cut short between the manifest and the
// fallback tag leaves it.
func TestCopyReferrersRelists(t *testing.T) {
	reg, mirror := newTestRegistry(t), newTestRegistry(t)
	c := newClient(t, reg.host, mirror.host)
	srcRepo, dstRepo := reg.host+"/src/app", mirror.host+"/mirror/app"
	s := pushSigned(t, srcRepo)
	if _, err := c.Copy(context.Background(), srcRepo+":1", dstRepo+":1", CopyOptions{Referrers: true}); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(mustRepo(t, dstRepo).Tag(digestTag(s.Image.Digest))); err != nil {
		t.Fatal(err)
	}
	if got := referrers(t, dstRepo, s.Image.Digest); len(got) != 0 {
		t.Fatalf("the mirror still lists %v", got)
	}
	res, err := c.Copy(context.Background(), srcRepo+":1", dstRepo+":1", CopyOptions{Referrers: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Referrers != (ReferrerCount{Copied: 1, Present: 3}) {
		t.Errorf("copy = %+v, want the SBOM copied again", res)
	}
	if diff := cmp.Diff([]string{s.SBOM.String()}, referrers(t, dstRepo, s.Image.Digest)); diff != "" {
		t.Errorf("the mirror's referrers of the index (-want +got):\n%s", diff)
	}
}

// TestMissingSignatures names the signatures of an image and of its
// children that a copy lacks, not its SBOM, and none once the copy has
// its referrers.
func TestMissingSignatures(t *testing.T) {
	reg, mirror := newTestRegistry(t), newTestRegistry(t, ggcrregistry.WithReferrersSupport(true))
	c := newClient(t, reg.host, mirror.host)
	src, dst := reg.host+"/src/app", mirror.host+"/mirror/app"
	s := pushSigned(t, src)
	ctx := context.Background()
	if _, err := c.Copy(ctx, src+":1", dst+":1", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.MissingSignatures(ctx, src+":1", dst+":1", s.Image.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		registrytest.SignatureTag(s.Image.Digest),
		s.ChildSignature.String() + " (" + registrytest.CosignSignatureArtifact + ") of " + s.Child.Digest.String(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("missing signatures (-want +got):\n%s", diff)
	}
	if _, err := c.Copy(ctx, src+":1", dst+":1", CopyOptions{Referrers: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.MissingSignatures(ctx, src+":1", dst+":1", s.Image.Digest.String()); err != nil || len(got) != 0 {
		t.Errorf("after copying the referrers: missing %v, %v", got, err)
	}
}

// TestCopyReferrersNothingAttached: for an image with nothing attached in
// a registry without the referrers API, one listing of the repository's
// tags answers for every manifest: no tag or referrer is asked for, and
// the mirror hears nothing more than without Referrers.
func TestCopyReferrersNothingAttached(t *testing.T) {
	reg, mirror := newTestRegistry(t), newTestRegistry(t)
	c := newClient(t, reg.host, mirror.host)
	push(t, reg.host+"/src/plain:1", threePlatforms)
	src, dst := reg.host+"/src/plain:1", mirror.host+"/mirror/plain:1"
	if _, err := c.Copy(context.Background(), src, dst, CopyOptions{Referrers: true}); err != nil {
		t.Fatal(err)
	}
	reg.reset()
	mirror.reset()
	res, err := c.Copy(context.Background(), src, dst, CopyOptions{Referrers: true})
	if err != nil || res.Referrers != (ReferrerCount{}) {
		t.Fatalf("copy = %+v, %v", res, err)
	}
	if n := reg.count("GET", "/tags/list"); n != 1 {
		t.Errorf("the source's tags were listed %d times, want once", n)
	}
	if n := reg.count("GET", "/referrers/") + reg.count("GET", "/manifests/") + reg.count("HEAD", "/manifests/sha256-"); n != 1 {
		t.Errorf("the source got %d requests for referrers, manifests and tags, want the one asking for the referrers API", n)
	}
	if got := mirror.count("GET", "/v2/mirror/") + mirror.count("HEAD", "/v2/mirror/"); got != 1 {
		t.Errorf("the mirror got %d requests about the image, want its HEAD alone", got)
	}
}

// TestCopyReferrersUnlisted: a source that refuses to list its tags has
// each looked up instead.
func TestCopyReferrersUnlisted(t *testing.T) {
	reg, mirror := newTestRegistry(t), newTestRegistry(t)
	reg.intercept = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"no ListImages"}]}`, http.StatusForbidden)
			return true
		}
		return false
	}
	c := newClient(t, reg.host, mirror.host)
	src, dst := reg.host+"/src/app", mirror.host+"/mirror/app"
	s := pushSigned(t, src)
	res, err := c.Copy(context.Background(), src+":1", dst+":1", CopyOptions{Referrers: true})
	if err != nil || res.Referrers != (ReferrerCount{Copied: 4}) {
		t.Fatalf("copy = %+v, %v", res, err)
	}
	if diff := cmp.Diff([]string{s.SBOM.String()}, referrers(t, dst, s.Image.Digest)); diff != "" {
		t.Errorf("the mirror's referrers of the index (-want +got):\n%s", diff)
	}
}

// TestCopyReferrersOnceAtOnce: pairs copied at once that name one image
// in one mirror repository (app:1 and app:latest) write each of its
// artifacts once, and the mirror's fallback tag lists them all.
func TestCopyReferrersOnceAtOnce(t *testing.T) {
	reg, mirror := newTestRegistry(t), newTestRegistry(t)
	c := newClient(t, reg.host, mirror.host)
	src := reg.host + "/src/app"
	s := pushSigned(t, src)
	want := []string{s.SBOM.String()}
	for i := range 5 {
		a, err := registrytest.NewReferrer(s.Image, "application/vnd.example.scan+json", "application/vnd.example.scan+json", []byte(fmt.Sprintf(`{"scan":%d}`, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Push(mustRepo(t, src)); err != nil {
			t.Fatal(err)
		}
		want = append(want, a.Digest().String())
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		copied int
	)
	for i := range 6 {
		wg.Go(func() {
			res, err := c.Copy(context.Background(), src+":1", fmt.Sprintf("%s/mirror/app:%d", mirror.host, i), CopyOptions{Referrers: true})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			copied += res.Referrers.Copied
			mu.Unlock()
		})
	}
	wg.Wait()
	if copied != 9 {
		t.Errorf("6 copies at once wrote %d artifacts, want each of the 9 once", copied)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, referrers(t, mirror.host+"/mirror/app", s.Image.Digest)); diff != "" {
		t.Errorf("the mirror's referrers of the index (-want +got):\n%s", diff)
	}
}
