//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// syncFixture is a source registry holding the images of a manifest, a
// mirror, and rules from one to the other.
type syncFixture struct {
	*registries
	rules, deploy string
	// digests are the source images' digests, by image as written.
	digests map[string]string
	// pinned is the tag+digest image.
	pinned string
}

var (
	listSpec = registrytest.Spec{Format: registrytest.Docker, Platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, Layers: 2, LayerSize: 64 << 10, Seed: 10}
	ociSpec  = registrytest.Spec{Format: registrytest.OCI, Platforms: []string{"linux/amd64", "linux/s390x"}, Layers: 2, LayerSize: 32 << 10, Seed: 11}
	oneSpec  = registrytest.Spec{Format: registrytest.Docker, Platforms: []string{"linux/amd64"}, Single: true, Layers: 3, LayerSize: 16 << 10, Seed: 12}
	pinSpec  = registrytest.Spec{Format: registrytest.OCI, Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: 1, LayerSize: 8 << 10, Seed: 13}
)

const syncDeploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      initContainers:
      - name: init
        image: SRC/team/single:v1
      containers:
      - name: list
        image: SRC/team/list:v1
      - name: oci
        image: SRC/team/oci:v1
      - name: pinned
        image: PINNED
      - name: escaped
        image: direct.to/SRC/team/single:v1
---
apiVersion: v1
kind: Pod
metadata:
  name: again
spec:
  containers:
  - name: list
    image: SRC/team/list:v1
`

func newSyncFixture(t *testing.T) *syncFixture {
	t.Helper()
	f := &syncFixture{registries: startRegistries(t), digests: map[string]string{}}
	src := f.src.Host
	for ref, spec := range map[string]registrytest.Spec{"team/list:v1": listSpec, "team/oci:v1": ociSpec, "team/single:v1": oneSpec} {
		f.digests[src+"/"+ref] = f.push(t, src+"/"+ref, spec).String()
	}
	pin := f.push(t, src+"/team/pinned:v2", pinSpec).String()
	f.pinned = src + "/team/pinned:v2@" + pin
	f.digests[f.pinned] = pin
	f.rules = filepath.Join(f.dir, "rules.yaml")
	writeTestFile(t, f.rules, f.rulesYAML())
	f.deploy = filepath.Join(f.dir, "deploy")
	os.MkdirAll(f.deploy, 0o755)
	writeTestFile(t, filepath.Join(f.deploy, "app.yaml"), strings.NewReplacer("PINNED", f.pinned, "SRC", src).Replace(syncDeploy))
	return f
}

func (f *syncFixture) rulesYAML() string {
	return `apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
metadata:
  name: e2e
spec:
  mirrors:
  - from: ` + f.src.Host + `/
    to: ` + f.mirror.Host + `/mirror/
`
}

// mirrored is where the rules send a source image.
func (f *syncFixture) mirrored(img string) string {
	return f.mirror.Host + "/mirror/" + strings.TrimPrefix(img, f.src.Host+"/")
}

// run runs kmirror with the fixture's rules.
func (f *syncFixture) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return f.kmirror(t, "", append([]string{args[0], "--rules", f.rules}, args[1:]...)...)
}

// TestSync fills the mirror, checks with skopeo that every manifest is
// there with its digest, finds nothing to do the second time, and verifies
// the manifests before and after.
func TestSync(t *testing.T) {
	f := newSyncFixture(t)

	// Before: verify names each field whose mirror image is missing.
	out, errOut, code := f.run(t, "verify", f.deploy)
	if code != 1 {
		t.Fatalf("verify before sync: exit %d, want 1\n%s%s", code, out, errOut)
	}
	listLine := f.deploy + "/app.yaml: document 1 (Deployment shop/web), line 14: spec.template.spec.containers[0].image: " +
		f.src.Host + "/team/list:v1: missing " + f.mirror.Host + "/mirror/team/list:v1\n"
	if !strings.Contains(out, listLine) || strings.Count(out, ": missing ") != 5 {
		t.Errorf("verify before sync printed:\n%s\nwant 5 missing fields, among them:\n%s", out, listLine)
	}
	if !strings.Contains(errOut, "checked 6 image fields (5 distinct images): 1 present, 5 missing") {
		t.Errorf("verify summary: %s", errOut)
	}

	out, errOut, code = f.run(t, "sync", f.deploy)
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(`^copied 4 images \([0-9.]+ [kM]B\), already present 0, failed 0\n$`).MatchString(out) {
		t.Errorf("sync summary:\n%s", out)
	}
	if n := strings.Count(errOut, "copied "); n != 4 {
		t.Errorf("sync printed %d lines of copied images, want 4:\n%s", n, errOut)
	}
	f.checkMirror(t)

	// Again: nothing to copy, and the mirror gets no write at all.
	puts, posts, patches := f.mirrorRequests(t, "PUT"), f.mirrorRequests(t, "POST"), f.mirrorRequests(t, "PATCH")
	out, errOut, code = f.run(t, "sync", "-o", "json", f.deploy)
	if code != 0 {
		t.Fatalf("second sync: exit %d\n%s%s", code, out, errOut)
	}
	var rep struct {
		Summary map[string]any
		Images  []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("sync -o json: %v\n%s", err, out)
	}
	if rep.Summary["copied"] != 0.0 || rep.Summary["present"] != 4.0 || len(rep.Images) != 4 || rep.Images[0]["status"] != "present" {
		t.Errorf("second sync report: %s", out)
	}
	if got := [3]int{f.mirrorRequests(t, "PUT") - puts, f.mirrorRequests(t, "POST") - posts, f.mirrorRequests(t, "PATCH") - patches}; got != [3]int{} {
		t.Errorf("second sync sent the mirror %v PUT, POST and PATCH requests, want none", got)
	}

	// After: the manifests as written and as rewritten both verify.
	if out, errOut, code = f.run(t, "verify", f.deploy); code != 0 {
		t.Errorf("verify after sync: exit %d\n%s%s", code, out, errOut)
	}
	rewritten := filepath.Join(f.dir, "rewritten")
	os.MkdirAll(rewritten, 0o755)
	out, _, _ = f.run(t, "rewrite", f.deploy)
	writeTestFile(t, filepath.Join(rewritten, "app.yaml"), out)
	if !strings.Contains(out, f.mirrored(f.pinned)) {
		t.Fatalf("rewrite did not mirror the pinned image:\n%s", out)
	}
	for _, args := range [][]string{{"verify", rewritten}, {"verify", "--same-digest", rewritten}, {"verify", "--same-digest", f.deploy}} {
		if out, errOut, code = f.run(t, args...); code != 0 {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
	}

	// A tag that moves upstream: only --same-digest sees it, and the next
	// sync copies it again.
	moved := oneSpec
	moved.Seed = 99
	f.push(t, f.src.Host+"/team/single:v1", moved)
	if out, errOut, code = f.run(t, "verify", rewritten); code != 0 {
		t.Errorf("verify without --same-digest after the move: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = f.run(t, "verify", "--same-digest", "-o", "json", rewritten)
	var vrep struct {
		OK      bool
		Summary map[string]float64
		Images  []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &vrep); err != nil {
		t.Fatalf("verify -o json: %v\n%s", err, out)
	}
	// Two fields: the escape is gone from the rewritten manifest, so its
	// image is mirrored there too (see the README).
	if code != 1 || vrep.OK || vrep.Summary["mismatched"] != 2 || vrep.Images[0]["status"] != "digest mismatch" || vrep.Images[0]["source"] != f.src.Host+"/team/single:v1" {
		t.Errorf("verify --same-digest after the move: exit %d, report:\n%s", code, out)
	}
	if out, errOut, code = f.run(t, "sync", f.deploy); code != 0 || !strings.HasPrefix(out, "copied 1 image ") {
		t.Errorf("sync after the move: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = f.run(t, "verify", "--same-digest", rewritten); code != 0 {
		t.Errorf("verify --same-digest after the new sync: exit %d\n%s%s", code, out, errOut)
	}
}

// checkMirror reads back with skopeo every manifest the fixture's sync
// copied: each has its source's digest, and so has each platform image of
// an index.
func (f *syncFixture) checkMirror(t *testing.T) {
	t.Helper()
	for img, want := range f.digests {
		target := f.mirrored(img)
		if img == f.pinned {
			target = strings.Split(target, "@")[0] // the tag must name the digest
		}
		got, raw, ok := f.skopeoRaw(t, target)
		if !ok || got != want {
			t.Errorf("skopeo read %s as %s, want %s", target, got, want)
			continue
		}
		// skopeo reads no tag+digest reference: the source by its digest.
		if _, srcRaw, _ := f.skopeoRaw(t, repoOf(img)+"@"+want); string(srcRaw) != string(raw) {
			t.Errorf("%s: the mirror's manifest is not the source's byte for byte", target)
		}
		idx, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
		if err != nil || len(idx.Manifests) == 0 {
			continue
		}
		for _, d := range idx.Manifests {
			child := repoOf(target) + "@" + d.Digest.String()
			if got, _, ok := f.skopeoRaw(t, child); !ok || got != d.Digest.String() {
				t.Errorf("skopeo read %s as %s", child, got)
			}
		}
	}
}

// TestSyncImagesList takes its pairs from "kmirror images -o mirror-list",
// and from manifests at once, each pair once.
func TestSyncImagesList(t *testing.T) {
	f := newSyncFixture(t)
	list, errOut, code := f.run(t, "images", "-o", "mirror-list", f.deploy)
	if code != 0 || strings.Count(list, "\n") != 4 {
		t.Fatalf("images -o mirror-list: exit %d\n%s%s", code, list, errOut)
	}
	path := filepath.Join(f.dir, "images.txt")
	writeTestFile(t, path, "# from kmirror images\n\n"+list+f.src.Host+"/team/unmirrored:1 # not under the rules? it is: a missing source\n")
	out, errOut, code := f.run(t, "sync", "--images", path, f.deploy)
	if code != 1 || !strings.HasPrefix(out, "copied 4 images ") || !strings.Contains(out, "failed 1\n") {
		t.Errorf("sync --images: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "failed: "+f.src.Host+"/team/unmirrored:1 -> "+f.mirror.Host+"/mirror/team/unmirrored:1: checking "+f.src.Host+"/team/unmirrored:1: not found in "+f.src.Host) {
		t.Errorf("the missing source is not reported with its registry:\n%s", out)
	}
	f.checkMirror(t)
}

// TestSyncDryRun checks and lists, and writes nothing to the mirror.
func TestSyncDryRun(t *testing.T) {
	f := newSyncFixture(t)
	out, errOut, code := f.run(t, "sync", "--dry-run", f.deploy)
	if code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	var lines []string
	for _, img := range []string{"team/single:v1", "team/list:v1", "team/oci:v1"} {
		lines = append(lines, "would copy "+f.src.Host+"/"+img+" -> "+f.mirror.Host+"/mirror/"+img)
	}
	lines = append(lines, "would copy "+f.pinned+" -> "+f.mirrored(f.pinned), "would copy 4, already present 0, failed 0", "")
	if diff := cmp.Diff(strings.Join(lines, "\n"), out); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	for _, m := range []string{"PUT", "POST", "PATCH"} {
		if n := f.mirrorRequests(t, m); n != 0 {
			t.Errorf("a dry run sent %d %s requests to the mirror", n, m)
		}
	}
}

// repoOf is an image without its tag and digest.
func repoOf(img string) string {
	img, _, _ = strings.Cut(img, "@")
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		return img[:i]
	}
	return img
}
