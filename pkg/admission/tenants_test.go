package admission_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/mirrorcheck"
	"kmirror.dev/kmirror/pkg/registry"
	"kmirror.dev/kmirror/rules"
)

// The shape of TestOneTeamCannotCrowdOutAnother.
const (
	// floodSenders send the flood's reviews at once, each of floodImages
	// images that nobody asked about before, until the mirror has been
	// asked about floodChecked of them: four times what its cache holds.
	floodSenders = 4
	floodImages  = 300
	floodChecked = 2400
	// The cache holds some 600 answers.
	tenantsCache = 128 << 10
)

// TestOneTeamCannotCrowdOutAnother: with --swap-policy exists, a team's
// Pods, whose images the mirror holds and which were admitted before, go
// to the mirror while another author's Pods name thousands of new images
// at once, through the checks and the cache they share. The mirror is a
// real distribution registry.
func TestOneTeamCannotCrowdOutAnother(t *testing.T) {
	reg, transport := startMirror(t)
	const source = "source.example.com"
	eng, err := rules.Parse("rules.yaml", []byte(fmt.Sprintf(`apiVersion: kmirror.dev/v1alpha1
kind: MirrorRules
spec:
  mirrors:
  - from: %s/
    to: %s/
`, source, reg.Host)))
	if err != nil {
		t.Fatal(err)
	}
	_, img, err := registrytest.Make(registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The team's three Pods of four images each, all in the mirror.
	team := make([][]string, 3)
	for i := range 12 {
		ref, err := name.ParseReference(fmt.Sprintf("%s/team/app%d:1", reg.Host, i))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithTransport(transport)); err != nil {
			t.Fatal(err)
		}
		team[i%3] = append(team[i%3], fmt.Sprintf("%s/team/app%d:1", source, i))
	}
	client, err := registry.New(registry.Options{Transport: transport, Keychain: authn.NewMultiKeychain(), Retry: registry.Retry{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	checker := mirrorcheck.New(client.NewProber(0, 0), mirrorcheck.Options{MaxBytes: tenantsCache,
		PresentTTL: time.Hour, MissingTTL: time.Minute, FailedTTL: mirrorcheck.DefaultFailedTTL,
		Metrics: mirrorcheck.NewMetrics(metrics)})
	// The flood's images are missing from the mirror, the team's present.
	checks := func(result string) int {
		families, err := metrics.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				if f.GetName() == "kmirror_mirror_checks_total" && m.GetLabel()[0].GetValue() == result {
					return int(m.GetCounter().GetValue())
				}
			}
		}
		return 0
	}
	h := &admission.Handler{Engine: eng, Swap: &admission.Swap{Mirror: checker}}

	// The team's Pods were admitted before, a few times each.
	var teamReviews, teamFailed atomic.Int64
	teamPod := func(i int) {
		pod := team[i%len(team)]
		teamReviews.Add(1)
		if why := mirrored(t, h, fmt.Sprintf("team-%d", i), pod, eng); why != "" {
			if teamFailed.Add(1) <= 5 {
				t.Errorf("a Pod of the team, after %d images of the flood were checked: %s", checks("missing"), why)
			}
		}
	}
	for i := range 3 * len(team) {
		teamPod(i)
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	var flood atomic.Int64
	for range floodSenders {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				n := flood.Add(floodImages) - floodImages
				images := make([]string, floodImages)
				for i := range images {
					images[i] = fmt.Sprintf("%s/flood/app:%d", source, n+int64(i))
				}
				serve(t, h, review("flood", images))
			}
		})
	}
	deadline := time.Now().Add(5 * time.Minute)
	for i := 0; checks("missing") < floodChecked; i++ {
		if time.Now().After(deadline) {
			t.Errorf("after 5 minutes, the mirror was asked about %d of the flood's images, want %d", checks("missing"), floodChecked)
			break
		}
		teamPod(i)
		time.Sleep(20 * time.Millisecond)
	}
	close(done)
	wg.Wait()
	t.Logf("%d images of the flood named, %d checked, %d failed; %d Pods of the team, %d not all mirrored; %d checks of the team's images",
		flood.Load(), checks("missing"), checks("error"), teamReviews.Load(), teamFailed.Load(), checks("present"))
}

// startMirror starts a distribution registry, and returns it and a
// transport that trusts it.
func startMirror(t *testing.T) (*registrytest.Distribution, http.RoundTripper) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal("docker-registry is not installed; `make unit` installs it (.ci/deps.sh)")
	}
	dir := t.TempDir()
	bundle, _, err := registrytest.TLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	regDir := filepath.Join(dir, "registry")
	if err := os.Mkdir(regDir, 0o755); err != nil {
		t.Fatal(err)
	}
	reg, err := registrytest.StartDistribution(registrytest.DistributionOptions{Bin: bin, Dir: regDir, TLS: bundle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Stop)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle.CA)
	return reg, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}
}

// review is the AdmissionReview of the CREATE of a Pod with images.
func review(name string, images []string) []byte {
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	for i, img := range images {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
	}
	raw, _ := json.Marshal(pod)
	body, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: "705ab4f5-6393-11e8-b7cc-42010a800002", Operation: admissionv1.Create,
			Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Name: name, Namespace: "default", Object: runtime.RawExtension{Raw: raw}},
	})
	return body
}

// serve sends body to h and returns its answer.
func serve(t *testing.T, h http.Handler, body []byte) *admissionv1.AdmissionResponse {
	r := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var a admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || w.Code != http.StatusOK || a.Response == nil {
		t.Errorf("status %d, %v: %s", w.Code, err, w.Body)
		return &admissionv1.AdmissionResponse{}
	}
	return a.Response
}

// mirrored sends the review of a Pod with images, and returns why they
// did not all go to the mirror, or "".
func mirrored(t *testing.T, h http.Handler, name string, images []string, eng *mirror.Engine) string {
	resp := serve(t, h, review(name, images))
	var ops []struct{ Path, Value string }
	if len(resp.Patch) > 0 {
		if err := json.Unmarshal(resp.Patch, &ops); err != nil {
			t.Fatal(err)
		}
	}
	var want, got []string
	for i, img := range images {
		want = append(want, fmt.Sprintf("/spec/containers/%d/image: %s", i, eng.Decide(img).Result))
	}
	for _, op := range ops {
		got = append(got, op.Path+": "+op.Value)
	}
	if !slices.Equal(want, got) || len(resp.Warnings) > 0 {
		return fmt.Sprintf("patched %q, warned %q", got, resp.Warnings)
	}
	return ""
}
