package cmd

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// syncRegistry is go-containerregistry's in-process registry on plain
// HTTP, holding one image, src/app:1, and rules that mirror it to
// mirror/ on the same registry.
func syncRegistry(t *testing.T) (host, rules string) {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host = strings.TrimPrefix(srv.URL, "http://")
	idx, _, err := registrytest.Make(registrytest.Spec{Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: 1, LayerSize: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/src/app:1", name.Insecure)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	rules = write(t, t.TempDir(), "rules.yaml", "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata:\n  name: t\nspec:\n  mirrors:\n  - from: "+host+"/src/\n    to: "+host+"/mirror/\n")
	return host, rules
}

func TestSyncAndVerify(t *testing.T) {
	host, rules := syncRegistry(t)
	manifest := "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: " + host + "/src/app:1}\n  - {name: b, image: " + host + "/src/gone:1}\n"
	flags := []string{"--rules", rules, "--plain-http", host}

	out, errOut, code := run(t, manifest, append([]string{"verify"}, flags...)...)
	if code != 1 || strings.Count(out, ": missing ") != 2 || !strings.Contains(errOut, "checked 2 image fields (2 distinct images): 0 present, 2 missing") {
		t.Errorf("verify before: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, manifest, append([]string{"sync"}, flags...)...)
	if code != 1 || !strings.HasPrefix(out, "copied 1 image (") || !strings.Contains(out, "failed: "+host+"/src/gone:1 -> "+host+"/mirror/gone:1: checking "+host+"/src/gone:1: not found in "+host) {
		t.Errorf("sync: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "copied      "+host+"/src/app:1 -> "+host+"/mirror/app:1 (") ||
		!strings.Contains(errOut, "failed      "+host+"/src/gone:1 -> "+host+"/mirror/gone:1\n") {
		t.Errorf("sync's progress lines:\n%s", errOut)
	}
	// Printed once: in the summary, not in the progress lines too.
	if n := strings.Count(out+errOut, "not found in "+host); n != 1 {
		t.Errorf("the failure is printed %d times:\n%s%s", n, out, errOut)
	}
	out, errOut, code = run(t, manifest, append([]string{"sync", "-q"}, flags...)...)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "kmirror: "+host+"/src/gone:1 -> ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("sync -q: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = run(t, manifest, append([]string{"verify", "-o", "json"}, flags...)...)
	var rep verifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if code != 1 || rep.OK || rep.Summary.Present != 1 || rep.Summary.Missing != 1 || rep.Images[1].Pulled != host+"/mirror/gone:1" || rep.Images[1].Line != 6 {
		t.Errorf("verify -o json: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := run(t, "kind: Pod\nspec:\n  containers: [{image: "+host+"/src/app:1}]\n", append([]string{"verify"}, flags...)...); code != 0 {
		t.Errorf("verify of a present image: exit %d", code)
	}
}

func TestSyncFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sync", "--jobs", "0"}, "--jobs must be at least 1"},
		{[]string{"sync", "--platform", "amd64"}, `--platform "amd64" is not os/arch`},
		{[]string{"sync", "--images", "-", "-"}, `stdin ("-") can be read once`},
		{[]string{"sync", "-o", "yaml"}, "--output must be text or json"},
		{[]string{"sync", "--copy-timeout", "0s"}, "--copy-timeout must be positive"},
		{[]string{"sync", "--plain-http", "host/path", "--images", "/dev/null"}, `plain-HTTP registry "host/path" is not a registry`},
		{[]string{"sync", "--images", "/nonexistent"}, "reading the image list"},
		{[]string{"sync", "--shard", "3/3", "--images", "/dev/null"}, `--shard: shard "3/3": the index counts from 0`},
		{[]string{"sync", "--shard", "1of3", "--images", "/dev/null"}, `--shard: shard "1of3" is not INDEX/COUNT`},
		{[]string{"sync", "--merge-reports"}, "--merge-reports: name the report files"},
		{[]string{"sync", "--merge-reports", "--images", "list.txt", "a.json"}, "--images has no effect with --merge-reports"},
		{[]string{"sync", "--merge-reports", "--shard", "0/2", "a.json"}, "--shard has no effect with --merge-reports"},
		{[]string{"sync", "--merge-reports", "/nonexistent"}, "reading the report: open /nonexistent"},
		{[]string{"sync", "--merge-reports", "/dev/null"}, "/dev/null holds no report"},
		{[]string{"verify", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"verify", "--rules", "/nonexistent"}, "/nonexistent"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errOut, code := run(t, "", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

// TestSyncNothing: manifests without mirrored images give nothing to do.
func TestSyncNothing(t *testing.T) {
	out, errOut, code := run(t, plainPod, "sync")
	if code != 0 || out != "copied 0 images (0 B), already present 0, failed 0\n" {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code = run(t, "not: [yaml", "sync")
	if code != 2 || !strings.Contains(errOut, "kmirror: ") {
		t.Errorf("bad manifest: exit %d %s", code, errOut)
	}
}
