package cmd

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/mirrorsync"
	"kmirror.dev/kmirror/pkg/registry"
)

// TestSyncReferrersAndVerifySigned: without --referrers the mirror lacks
// the image's signatures and verify --signed says so; sync copies them
// (and the SBOM) by default, says how many, and skips them the next time.
func TestSyncReferrersAndVerifySigned(t *testing.T) {
	host, rules := syncRegistry(t)
	src, _ := name.ParseReference(host+"/src/app:1", name.Insecure)
	desc, err := remote.Head(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registrytest.Attach(src.Context(), desc.Digest); err != nil {
		t.Fatal(err)
	}
	manifest := "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: " + host + "/src/app:1}\n"
	flags := []string{"--rules", rules, "--plain-http", host}

	out, errOut, code := run(t, manifest, append([]string{"sync", "--referrers=false"}, flags...)...)
	if code != 0 || !regexp.MustCompile(`^copied 1 image \([0-9.]+ [kM]?B\), already present 0, failed 0\n$`).MatchString(out) {
		t.Errorf("sync --referrers=false: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, manifest, append([]string{"verify", "--signed"}, flags...)...)
	if code != 1 || !strings.Contains(out, ": signature missing: "+host+"/mirror/app:1 lacks signatures of "+host+"/src/app:1: sha256-") ||
		!strings.Contains(errOut, "0 present, 0 missing, 1 lacking a signature of the source") {
		t.Errorf("verify --signed without the signatures: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = run(t, manifest, append([]string{"verify"}, flags...)...); code != 0 {
		t.Errorf("verify without --signed: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = run(t, manifest, append([]string{"sync"}, flags...)...)
	if code != 0 || !strings.HasSuffix(out, ", already present 1, failed 0; referrers: copied 4, already present 0\n") {
		t.Errorf("sync: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = run(t, manifest, append([]string{"verify", "--signed"}, flags...)...); code != 0 {
		t.Errorf("verify --signed after sync: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, manifest, append([]string{"sync", "-o", "json"}, flags...)...)
	var rep mirrorsync.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("sync -o json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if rep.Summary.Present != 1 || rep.Summary.Referrers != (registry.ReferrerCount{Present: 4}) {
		t.Errorf("the second sync's summary: %+v", rep.Summary)
	}
	if !strings.Contains(out, `"referrers": {`) {
		t.Errorf("the report does not name the referrers:\n%s", out)
	}
}
