package registry

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/pkg/registrytest"
)

// signed is an index in a source repository with what a supply chain
// attaches to it: a cosign signature under its tag, an SBOM referrer, a
// cosign signature of the SBOM as a referrer of it, and a cosign
// signature of the amd64 image as a referrer of that child.
type signed struct {
	key   *ecdsa.PrivateKey
	index v1.Descriptor
	child v1.Descriptor
	// sig is the manifest under the tag sha256-<index>.sig; sbom, sbomSig
	// and childSig are the referrers.
	sig, sbom, sbomSig, childSig v1.Hash
}

func pushSigned(t *testing.T, repo string) *signed {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &signed{key: key}
	s.index.Digest = push(t, repo+":1", threePlatforms)
	r := mustRepo(t, repo)
	desc, err := remote.Get(r.Digest(s.index.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	s.index = desc.Descriptor
	im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		t.Fatal(err)
	}
	s.child = im.Manifests[0] // linux/amd64

	sig, err := registrytest.CosignSignature(key, repo, s.index.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r.Tag(registrytest.SignatureTag(s.index.Digest)), sig); err != nil {
		t.Fatal(err)
	}
	s.sig, _ = sig.Digest()

	sbom, err := registrytest.NewReferrer(s.index, registrytest.SPDX, registrytest.SPDX, []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.sbom = sbom.Digest()
	sbomDesc := v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: s.sbom, Size: int64(len(must(sbom.RawManifest())))}
	sbomSig, err := registrytest.CosignReferrer(key, repo, sbomDesc)
	if err != nil {
		t.Fatal(err)
	}
	s.sbomSig = sbomSig.Digest()
	childSig, err := registrytest.CosignReferrer(key, repo, s.child)
	if err != nil {
		t.Fatal(err)
	}
	s.childSig = childSig.Digest()
	for _, a := range []*registrytest.Artifact{sbom, sbomSig, childSig} {
		if err := a.Push(r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
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
			sigTag := registrytest.SignatureTag(s.index.Digest)
			for _, ref := range []string{":" + sigTag, "@" + s.sbom.String(), "@" + s.sbomSig.String(), "@" + s.childSig.String()} {
				if got, want := rawManifest(t, dstRepo+ref), rawManifest(t, srcRepo+ref); !bytes.Equal(got, want) {
					t.Errorf("%s differs in the mirror:\n%s\nwant\n%s", ref, got, want)
				}
			}
			for subject, want := range map[v1.Hash][]string{
				s.index.Digest: {s.sbom.String()},
				s.sbom:         {s.sbomSig.String()},
				s.child.Digest: {s.childSig.String()},
			} {
				if diff := cmp.Diff(want, referrers(t, dstRepo, subject)); diff != "" {
					t.Errorf("the mirror's referrers of %s (-want +got):\n%s", subject, diff)
				}
			}
			dst := mustRepo(t, dstRepo)
			for ref, subject := range map[string]v1.Hash{":" + sigTag: s.index.Digest, "@" + s.sbomSig.String(): s.sbom, "@" + s.childSig.String(): s.child.Digest} {
				if err := registrytest.VerifyCosign(rawManifest(t, dstRepo+ref), dst, &s.key.PublicKey, subject); err != nil {
					t.Errorf("the mirror's signature %s: %v", ref, err)
				}
			}
			_, err = remote.Head(dst.Tag(digestTag(s.index.Digest)))
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
	if _, err := c.Head(context.Background(), reg.host+"/plain/app:"+registrytest.SignatureTag(s.index.Digest)); err == nil {
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
	if diff := cmp.Diff([]string{s.childSig.String()}, referrers(t, reg.host+"/subset/app", s.child.Digest)); diff != "" {
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
	if err := remote.Delete(mustRepo(t, dstRepo).Tag(digestTag(s.index.Digest))); err != nil {
		t.Fatal(err)
	}
	if got := referrers(t, dstRepo, s.index.Digest); len(got) != 0 {
		t.Fatalf("the mirror still lists %v", got)
	}
	res, err := c.Copy(context.Background(), srcRepo+":1", dstRepo+":1", CopyOptions{Referrers: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Referrers != (ReferrerCount{Copied: 1, Present: 3}) {
		t.Errorf("copy = %+v, want the SBOM copied again", res)
	}
	if diff := cmp.Diff([]string{s.sbom.String()}, referrers(t, dstRepo, s.index.Digest)); diff != "" {
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
	got, err := c.MissingSignatures(ctx, src+":1", dst+":1", s.index.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		registrytest.SignatureTag(s.index.Digest),
		s.childSig.String() + " (" + registrytest.CosignSignatureArtifact + ") of " + s.child.Digest.String(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("missing signatures (-want +got):\n%s", diff)
	}
	if _, err := c.Copy(ctx, src+":1", dst+":1", CopyOptions{Referrers: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.MissingSignatures(ctx, src+":1", dst+":1", s.index.Digest.String()); err != nil || len(got) != 0 {
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
	if diff := cmp.Diff([]string{s.sbom.String()}, referrers(t, dst, s.index.Digest)); diff != "" {
		t.Errorf("the mirror's referrers of the index (-want +got):\n%s", diff)
	}
}
