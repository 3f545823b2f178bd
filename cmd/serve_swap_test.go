package cmd

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// TestServeSwapExistsCopiesMissing runs kmirror serve --swap-policy exists
// --copy-missing in-process against go-containerregistry's registry: a
// Pod whose image the mirror lacks keeps its source, with the warning;
// the image is copied, and a later Pod gets the mirror, long before the
// missing answer expires.
func TestServeSwapExistsCopiesMissing(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	idx, _, err := registrytest.Make(registrytest.Spec{Format: registrytest.OCI, Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: 1, LayerSize: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	src, err := name.ParseReference(host+"/src/app:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(src, idx); err != nil {
		t.Fatal(err)
	}
	digest, _ := idx.Digest()

	rules := write(t, t.TempDir(), "rules.yaml", "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata: {name: test}\nspec:\n  mirrors:\n  - {from: "+host+"/src/, to: "+host+"/mirror/}\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := startServe(t, ctx, "--rules", rules, "--swap-policy", "exists", "--copy-missing", "--plain-http", host, "--missing-ttl", "1h")
	review := func() (patch string, warnings []string) {
		t.Helper()
		body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE",
			"object":{"kind":"Pod","metadata":{"name":"test"},"spec":{"containers":[{"name":"test","image":"` + host + `/src/app:1"}]}}}}`
		resp, err := s.client.Post("https://"+s.addr+"/mutate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var answer struct {
			Response struct {
				Patch    []byte
				Warnings []string
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
			t.Fatal(err)
		}
		return string(answer.Response.Patch), answer.Response.Warnings
	}

	patch, warnings := review()
	want := "kmirror: " + host + "/mirror/app:1 is not in the mirror yet; " + host + "/src/app:1 is pulled from its source"
	if patch != "" || len(warnings) != 1 || warnings[0] != want {
		t.Fatalf("first review: patch %q, warnings %q; want no patch and %q", patch, warnings, want)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if patch, warnings = review(); patch != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copy did not turn the mirror present: warnings %q\n%s", warnings, s.logs)
		}
	}
	if want := `[{"op":"replace","path":"/spec/containers/0/image","value":"` + host + `/mirror/app:1"}]`; patch != want || warnings != nil {
		t.Errorf("after the copy: patch %s, warnings %q; want %s", patch, warnings, want)
	}
	dst, _ := name.ParseReference(host+"/mirror/app:1", name.Insecure)
	if desc, err := remote.Head(dst); err != nil || desc.Digest != digest {
		t.Errorf("the mirror holds %v (%v), want %s", desc, err, digest)
	}
	resp, err := http.Get("http://" + s.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`kmirror_mirror_checks_total\{result="missing"\} 1\n`,
		`kmirror_mirror_copies_total\{result="copied"\} 1\n`,
		`kmirror_mirror_copy_queue_depth 0\n`,
		`kmirror_admission_images_from_source_total\{dry_run="false",reason="missing"\} [1-9]`,
	} {
		if !regexp.MustCompile(want).Match(metrics) {
			t.Errorf("metrics lack %s", want)
		}
	}
	cancel()
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
