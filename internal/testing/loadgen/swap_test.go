package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/rules"
)

// The shape of the swap benchmark's load, at fixedRate reviews/s.
const (
	// swapRounds alternate between the two servers, a second each, so that
	// a change in the machine's load falls on both.
	swapRounds = 30
	// coldReviews are sent at coldRate reviews/s with every image new:
	// 4,500 new images at 450 a second. The registry on the same two
	// cores answers some 700 HEAD requests a second (1.5 ms of its CPU
	// each), so a thousand reviews a second of new images would measure
	// the queue in front of it.
	coldReviews = 1000
	coldRate    = 100
	// coldPresent: one image in coldPresent is in the mirror.
	coldPresent = 4
	// coldRepos are the repositories the new images are in.
	coldRepos = 32
)

// BenchmarkServeSwap measures kmirror serve --swap-policy exists against
// --swap-policy always, in the same run, at a fixed 1,000 reviews/s, with
// the mirror a real distribution registry on 127.0.0.1 that holds every
// image the reviews are sent to: with a warm cache, the target is a p99
// within 1.2 times that of always. Then it sends reviews whose every image
// is new, a cold cache, at 100 reviews/s, and reports their latency, the
// requests each check sent to the registry, and the CPU each cost kmirror
// and the registry.
func BenchmarkServeSwap(b *testing.B) {
	dir, bundle := serverFiles(b)
	reg, transport := startRegistry(b, dir)
	rulesFile, eng := benchRules(b, dir, reg.Host)
	var targets []string
	for _, img := range images {
		if d := eng.Decide(img); d.Action == mirror.Mirrored {
			targets = append(targets, d.Result)
		}
	}
	small := pushImage(b, transport, targets[0], nil)
	for _, t := range targets[1:] {
		pushImage(b, transport, t, small)
	}
	env := []string{"SSL_CERT_FILE=" + filepath.Join(dir, "ca.crt"), "DOCKER_CONFIG=" + b.TempDir()}
	always := startKmirrorWith(b, dir, nil, "--rules", rulesFile)
	exists := startKmirrorWith(b, dir, env, "--rules", rulesFile, "--swap-policy", "exists")
	client, err := NewClient(bundle.CA, concurrency)
	if err != nil {
		b.Fatal(err)
	}
	reviews := Reviews(1000, 1)
	always.check = patchCheck(b, reviews, eng)
	exists.check = always.check
	load := func(s *server, bodies [][]byte, n int, rate float64) *Result {
		return Run(context.Background(), Config{URL: s.url, Client: client, Bodies: bodies,
			Requests: n, Concurrency: concurrency, Rate: rate, Check: s.check})
	}
	b.Logf("GOMAXPROCS %d, %d CPUs; the mirror %s holds %d images", runtime.GOMAXPROCS(0), runtime.NumCPU(), reg.Host, len(targets))
	load(always, reviews, warmup, 0)
	load(exists, reviews, warmup, 0)

	b.Run("warm", func(b *testing.B) {
		heads := registryRequests(b, reg, "HEAD")
		var a, e Result
		for i := range swapRounds {
			first, second := always, exists
			if i%2 == 1 {
				first, second = exists, always
			}
			for _, s := range []*server{first, second} {
				r := load(s, reviews, fixedRate, fixedRate)
				if s == always {
					a.Add(r)
				} else {
					e.Add(r)
				}
			}
		}
		report(b, "always-", &a)
		report(b, "exists-", &e)
		ratio := float64(e.Percentile(0.99)) / float64(a.Percentile(0.99))
		b.ReportMetric(ratio, "p99-ratio")
		if n := registryRequests(b, reg, "HEAD") - heads; n != 0 {
			b.Errorf("with a warm cache, kmirror sent the registry %d HEAD requests", n)
		}
		if ratio > 1.2 {
			b.Errorf("p99 at %d reviews/s: %s with --swap-policy exists, %s with always: %.2f times; the target is 1.2",
				fixedRate, e.Percentile(0.99), a.Percentile(0.99), ratio)
		}
	})

	b.Run("cold", func(b *testing.B) {
		bodies, present, wantWarnings := coldLoad(b, eng, transport, small)
		exists.check = warningsCheck(wantWarnings)
		heads, pings := registryRequests(b, reg, "HEAD"), registryRequests(b, reg, "GET")
		registry := &server{pid: reg.PID()}
		kCPU, rCPU := exists.cpu(b), registry.cpu(b)
		r := load(exists, bodies, len(bodies), coldRate)
		kCPU, rCPU = exists.cpu(b)-kCPU, registry.cpu(b)-rCPU
		report(b, "", r)
		checks := registryRequests(b, reg, "HEAD") - heads
		b.ReportMetric(float64(kCPU.Microseconds())/float64(checks), "kmirror-cpu-us/check")
		b.ReportMetric(float64(rCPU.Microseconds())/float64(checks), "registry-cpu-us/check")
		b.ReportMetric(float64(checks), "checks")
		// kmirror sends only HEAD requests, and a GET of /v2/ to log in to
		// each repository it has not seen.
		logins := registryRequests(b, reg, "GET") - pings
		b.ReportMetric(float64(logins), "logins")
		b.Logf("%d reviews, %d new images (%d in the mirror) in %d repositories: %d HEAD requests, %d logins",
			len(bodies), len(present), countTrue(present), repositories(present), checks, logins)
		if checks != len(present) {
			b.Errorf("%d HEAD requests for %d new images, want one each", checks, len(present))
		}
		if logins > repositories(present) {
			b.Errorf("%d logins to %d repositories, want one each at most", logins, repositories(present))
		}
	})
}

// startRegistry starts a distribution registry with TLS on 127.0.0.1, and
// returns it and a transport that trusts its CA.
func startRegistry(b *testing.B, dir string) (*registrytest.Distribution, http.RoundTripper) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		b.Fatal("docker-registry is not installed; `make bench-serve` installs it (.ci/deps.sh)")
	}
	bundle, ca, err := registrytest.TLS(dir)
	if err != nil {
		b.Fatal(err)
	}
	regDir := filepath.Join(dir, "registry")
	if err := os.Mkdir(regDir, 0o755); err != nil {
		b.Fatal(err)
	}
	reg, err := registrytest.StartDistribution(registrytest.DistributionOptions{Bin: bin, Dir: regDir, TLS: bundle})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(reg.Stop)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca)
	if err != nil {
		b.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	return reg, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}
}

// benchRules writes the default rules with the registry as the mirror.
func benchRules(b *testing.B, dir, host string) (string, *mirror.Engine) {
	eng, err := rules.Load("")
	if err != nil {
		b.Fatal(err)
	}
	data, err := rules.Encode(eng.Rules())
	if err != nil {
		b.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), "048912060910.dkr.ecr.cn-northwest-1.amazonaws.com.cn", host))
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	if eng, err = rules.Load(path); err != nil {
		b.Fatal(err)
	}
	return path, eng
}

// pushImage writes img, or a small image when it is nil, to ref, and
// returns what it wrote.
func pushImage(b *testing.B, t http.RoundTripper, ref string, img v1.Image) v1.Image {
	if img == nil {
		var err error
		if _, img, err = registrytest.Make(registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 512, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		b.Fatal(err)
	}
	if err := remote.Write(r, img, remote.WithTransport(t)); err != nil {
		b.Fatalf("pushing %s: %v", ref, err)
	}
	return img
}

// coldLoad makes coldReviews reviews whose every image is new, in
// coldRepos repositories under the rules, and pushes one in coldPresent of
// them to the mirror. It returns the reviews, whether each new image is in
// the mirror, and whether each review should carry a warning.
func coldLoad(b *testing.B, eng *mirror.Engine, t http.RoundTripper, img v1.Image) ([][]byte, map[string]bool, []bool) {
	prefixes := []string{"k8s.gcr.io/", "registry.k8s.io/", "quay.io/", "docker.io/library/", "gcr.io/"}
	rng := rand.New(rand.NewPCG(3, 3))
	present := map[string]bool{}
	n := 0
	bodies := ReviewsOf(coldReviews, rng, func() string {
		n++
		src := fmt.Sprintf("%sbench/app-%d:v%d", prefixes[n%len(prefixes)], n%coldRepos, n)
		present[eng.Decide(src).Result] = n%coldPresent == 0
		return src
	})
	wantWarnings := make([]bool, len(bodies))
	for i, body := range bodies {
		for _, target := range reviewImages(b, body, eng) {
			wantWarnings[i] = wantWarnings[i] || !present[target]
		}
	}
	pushTags(b, t, present, img)
	return bodies, present, wantWarnings
}

// reviewImages returns the mirror images of a review's Pod.
func reviewImages(b *testing.B, body []byte, eng *mirror.Engine) []string {
	var r struct {
		Request struct {
			Object struct {
				Spec struct{ InitContainers, Containers []struct{ Image string } }
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil {
		b.Fatal(err)
	}
	var out []string
	for _, c := range append(r.Request.Object.Spec.InitContainers, r.Request.Object.Spec.Containers...) {
		out = append(out, eng.Decide(c.Image).Result)
	}
	return out
}

// pushTags tags img as each image of present that is in the mirror: img
// is written once to each repository, then tagged, 8 tags at a time.
func pushTags(b *testing.B, t http.RoundTripper, present map[string]bool, img v1.Image) {
	refs := make(chan name.Reference)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for ref := range refs {
				if err := remote.Put(ref, img, remote.WithTransport(t)); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	written := map[string]bool{}
	for ref, ok := range present {
		if !ok {
			continue
		}
		r, err := name.ParseReference(ref)
		if err != nil {
			b.Fatal(err)
		}
		if repo := r.Context().String(); !written[repo] {
			written[repo] = true
			pushImage(b, t, ref, img)
			continue
		}
		refs <- r
	}
	close(refs)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// patchCheck checks that each answer carries exactly the patch the
// admission package makes with eng: the mirror holds every image.
func patchCheck(b *testing.B, reviews [][]byte, eng *mirror.Engine) func(int, []byte) error {
	patches := make([][]byte, len(reviews))
	for i, body := range reviews {
		var r struct {
			Request struct{ Object json.RawMessage }
		}
		if err := json.Unmarshal(body, &r); err != nil {
			b.Fatal(err)
		}
		m, err := admission.Mutate(eng, r.Request.Object, nil)
		if err != nil {
			b.Fatal(err)
		}
		patches[i] = m.Patch()
	}
	return func(i int, body []byte) error {
		var a answer
		if err := json.Unmarshal(body, &a); err != nil {
			return err
		}
		if !a.Response.Allowed || string(a.Response.Patch) != string(patches[i]) {
			return fmt.Errorf("answer %s, want patch %s", body, patches[i])
		}
		return nil
	}
}

// warningsCheck checks that an answer carries warnings exactly when its
// review has an image the mirror lacks.
func warningsCheck(want []bool) func(int, []byte) error {
	return func(i int, body []byte) error {
		var a struct {
			Response struct {
				Allowed  bool
				Warnings []string
			}
		}
		if err := json.Unmarshal(body, &a); err != nil {
			return err
		}
		if !a.Response.Allowed || (len(a.Response.Warnings) > 0) != want[i] {
			return fmt.Errorf("review %d: warnings %q, want some: %v", i, a.Response.Warnings, want[i])
		}
		for _, w := range a.Response.Warnings {
			if !strings.Contains(w, "is not in the mirror yet") {
				return fmt.Errorf("review %d: warning %q", i, w)
			}
		}
		return nil
	}
}

// registryRequests counts the requests of the registry's access log with
// method, after a moment for the log to settle.
func registryRequests(b *testing.B, reg *registrytest.Distribution, method string) int {
	time.Sleep(100 * time.Millisecond)
	n, err := reg.Requests(method, "/v2/")
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// repositories counts the repositories of the images of m.
func repositories(m map[string]bool) int {
	repos := map[string]bool{}
	for img := range m {
		repos[img[:strings.LastIndex(img, ":")]] = true
	}
	return len(repos)
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}
