package cmd

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// pushImage writes a single image made from seed to ref on the plain-HTTP
// registry, and returns its digest.
func pushImage(t *testing.T, ref string, seed uint64) string {
	t.Helper()
	_, img, err := registrytest.Make(registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 100, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(ref, name.Insecure)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	return h.String()
}

// TestSyncConflicts: two sources that go to one target with different
// images fail, and are not copied; the rest of the run goes on.
func TestSyncConflicts(t *testing.T) {
	host, _ := syncRegistry(t)
	rules := write(t, t.TempDir(), "rules.yaml", "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata:\n  name: t\nspec:\n  mirrors:\n"+
		"  - from: "+host+"/src/\n    to: "+host+"/mirror/\n  - from: "+host+"/old/\n    to: "+host+"/mirror/\n")
	a := pushImage(t, host+"/src/x:1", 1)
	b := pushImage(t, host+"/old/x:1", 2)
	pushImage(t, host+"/src/y:1", 3)
	pushImage(t, host+"/old/y:1", 3) // the same image: no conflict
	list := strings.Join([]string{host + "/src/x:1", host + "/old/x:1", host + "/src/y:1", host + "/old/y:1",
		host + "/src/x@" + a, host + "/old/x@" + b, // two digests, but no tag: no conflict
		host + "/src/z:1@" + a, host + "/src/z:1@" + b}, "\n")
	// One at a time: the two pairs of y would otherwise race to copy it.
	out, errOut, code := run(t, list, "sync", "--jobs", "1", "--rules", rules, "--plain-http", host, "--images", "-")
	if code != 1 || !strings.HasPrefix(out, "copied 3 images (") || !strings.Contains(out, "already present 1, failed 4\n") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"failed: " + host + "/src/x:1 -> " + host + "/mirror/x:1: conflict: " + host + "/old/x:1 also goes to " + host + "/mirror/x:1 with another digest",
		"failed: " + host + "/src/z:1@" + b + " -> " + host + "/mirror/z:1@" + b + ": conflict: " + host + "/src/z:1@" + a + " also goes to " + host + "/mirror/z:1 with another digest",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if _, errOut, code := run(t, "", "verify", "--rules", rules, "--plain-http", host, write(t, t.TempDir(), "pod.yaml",
		"kind: Pod\nspec:\n  containers: [{image: "+host+"/src/x:1}, {image: "+host+"/src/z:1}]\n")); code != 1 || !strings.Contains(errOut, "0 present, 2 missing") {
		t.Errorf("verify: the conflicting images were copied: exit %d\n%s", code, errOut)
	}
}
