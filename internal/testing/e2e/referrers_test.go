//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// TestSyncSigned signs two indexes of the sync fixture as a supply chain
// does (a cosign signature under its .sig tag, an SBOM referrer, cosign
// signatures of the SBOM and of a child as referrers), on real
// registries without the referrers API (distribution 2.8). verify
// --signed fails for a copy made without --referrers; sync then copies
// every artifact, which skopeo reads back byte for byte, listed under the
// mirror's fallback tags, with signatures that verify there; a second
// sync writes nothing, and verify --signed passes.
func TestSyncSigned(t *testing.T) {
	f := newSyncFixture(t)
	signed := map[string]*registrytest.Attached{}
	for _, img := range []string{"team/list:v1", "team/oci:v1"} {
		src := f.src.Host + "/" + img
		digest, err := v1.NewHash(f.digests[src])
		if err != nil {
			t.Fatal(err)
		}
		a, err := registrytest.Attach(f.repo(t, repoOf(src)), digest, remote.WithTransport(f.transport))
		if err != nil {
			t.Fatalf("signing %s: %v", src, err)
		}
		signed[repoOf(src)] = a
	}

	out, errOut, code := f.run(t, "sync", "--referrers=false", f.deploy)
	if code != 0 || strings.Contains(out, "referrers") {
		t.Fatalf("sync --referrers=false: exit %d\n%s%s", code, out, errOut)
	}
	// The list is pulled by two fields, the OCI index by one.
	out, errOut, code = f.run(t, "verify", "--signed", f.deploy)
	if code != 1 || strings.Count(out, ": signature missing: ") != 3 || !strings.Contains(errOut, ", 3 lacking a signature of the source") {
		t.Errorf("verify --signed before the referrers are copied: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = f.run(t, "sync", f.deploy)
	if code != 0 || !strings.HasSuffix(out, ", already present 4, failed 0; referrers: copied 8, already present 0\n") {
		t.Errorf("sync: exit %d\n%s%s", code, out, errOut)
	}
	for src, a := range signed {
		f.checkSigned(t, src, a)
	}

	puts, posts, patches := f.mirrorRequests(t, "PUT"), f.mirrorRequests(t, "POST"), f.mirrorRequests(t, "PATCH")
	out, errOut, code = f.run(t, "sync", f.deploy)
	if code != 0 || !strings.HasSuffix(out, ", already present 4, failed 0; referrers: copied 0, already present 8\n") {
		t.Errorf("second sync: exit %d\n%s%s", code, out, errOut)
	}
	if got := [3]int{f.mirrorRequests(t, "PUT") - puts, f.mirrorRequests(t, "POST") - posts, f.mirrorRequests(t, "PATCH") - patches}; got != [3]int{} {
		t.Errorf("second sync sent the mirror %v PUT, POST and PATCH requests, want none", got)
	}
	if out, errOut, code = f.run(t, "verify", "--signed", f.deploy); code != 0 {
		t.Errorf("verify --signed after sync: exit %d\n%s%s", code, out, errOut)
	}
}

// checkSigned reads back with skopeo what Attach attached to the image of
// the source repository src, in the source and in the mirror: the same
// bytes, the referrers listed under the mirror's fallback tags, and the
// signatures verify with the key.
func (f *syncFixture) checkSigned(t *testing.T, src string, a *registrytest.Attached) {
	t.Helper()
	dst := f.mirrored(src)
	for _, ref := range []string{":" + registrytest.SignatureTag(a.Image.Digest), "@" + a.SBOM.String(), "@" + a.SBOMSignature.String(), "@" + a.ChildSignature.String()} {
		want, wantRaw, ok := f.skopeoRaw(t, src+ref)
		if !ok {
			t.Fatalf("skopeo cannot read %s", src+ref)
		}
		if got, raw, ok := f.skopeoRaw(t, dst+ref); !ok || got != want || string(raw) != string(wantRaw) {
			t.Errorf("skopeo reads %s as %s, want the source's %s byte for byte", dst+ref, got, want)
		}
	}
	for subject, want := range map[v1.Hash]v1.Hash{a.Image.Digest: a.SBOM, a.SBOM: a.SBOMSignature, a.Child.Digest: a.ChildSignature} {
		fallback := dst + ":" + subject.Algorithm + "-" + subject.Hex
		_, raw, ok := f.skopeoRaw(t, fallback)
		if !ok {
			t.Errorf("the mirror has no fallback tag %s", fallback)
			continue
		}
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
		if err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != want {
			t.Errorf("the fallback tag %s lists %s, want %s alone", fallback, raw, want)
		}
	}
	mirror := f.repo(t, dst)
	opts := []remote.Option{remote.WithTransport(f.transport), remote.WithAuth(&authn.Basic{Username: mirrorUser, Password: mirrorPassword})}
	for ref, subject := range map[string]v1.Hash{
		":" + registrytest.SignatureTag(a.Image.Digest): a.Image.Digest,
		"@" + a.SBOMSignature.String():                  a.SBOM,
		"@" + a.ChildSignature.String():                 a.Child.Digest,
	} {
		_, raw, _ := f.skopeoRaw(t, dst+ref)
		if err := registrytest.VerifyCosign(raw, mirror, &a.Key.PublicKey, subject, opts...); err != nil {
			t.Errorf("the signature %s in the mirror: %v", dst+ref, err)
		}
	}
}

// repo parses a repository of the test's registries.
func (r *registries) repo(t *testing.T, s string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}
