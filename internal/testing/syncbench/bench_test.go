package syncbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/certs"
)

const (
	images         = 40
	rounds         = 3
	user, password = "bench", "bench-pass"
	// The targets of the issue: kmirror at most half of skopeo's time,
	// and a run with nothing to copy under 2s.
	targetRatio = 0.5
	targetNoop  = 2 * time.Second
)

// env is the registries of a benchmark and the files the tools read.
type env struct {
	dir, certDir, htpasswd string
	bundle                 *certs.Bundle
	transport              http.RoundTripper
	src                    *registrytest.Distribution
	// repos are the source repositories, each with tag v1, and digests
	// their digests.
	repos   []string
	digests map[string]string
	bytes   int64
	kmirror string
}

// times is what one round measured: wall times, and the CPU time of each
// tool with the source and its mirror registry while it ran.
type times struct {
	kmirror, noop, skopeoSync, skopeoCopy    time.Duration
	kmirrorCPU, skopeoSyncCPU, skopeoCopyCPU time.Duration
	// ...Own is the part of that CPU time the tool used itself.
	kmirrorOwn, skopeoSyncOwn, skopeoCopyOwn time.Duration
}

func BenchmarkSync(b *testing.B) {
	for range b.N {
		e := setup(b)
		var all []times
		for r := range rounds {
			all = append(all, e.round(b, r))
		}
		med := func(f func(times) time.Duration) time.Duration {
			var ds []time.Duration
			for _, t := range all {
				ds = append(ds, f(t))
			}
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		medRatio := func(f func(times) time.Duration) (float64, float64, float64) {
			var rs []float64
			for _, t := range all {
				rs = append(rs, t.kmirror.Seconds()/f(t).Seconds())
			}
			slices.Sort(rs)
			return rs[len(rs)/2], rs[0], rs[len(rs)-1]
		}
		k, noop := med(func(t times) time.Duration { return t.kmirror }), med(func(t times) time.Duration { return t.noop })
		rSync, loSync, hiSync := medRatio(func(t times) time.Duration { return t.skopeoSync })
		rCopy, loCopy, hiCopy := medRatio(func(t times) time.Duration { return t.skopeoCopy })
		b.ReportMetric(k.Seconds(), "kmirror-s")
		b.ReportMetric(rSync, "ratio-vs-skopeo-sync")
		b.ReportMetric(rCopy, "ratio-vs-skopeo-copy")
		b.ReportMetric(noop.Seconds(), "noop-s")

		fmt.Printf("\n%d images, %.0f MB of layers, %d rounds; medians on %d CPUs (%s, %s)\n",
			images, float64(e.bytes)/1e6, rounds, runtime.NumCPU(), runtime.Version(), runtime.GOARCH)
		fmt.Printf("%-44s %8s %8s %8s   %s\n", "", "wall", "CPU", "tool CPU", "kmirror's wall / its (min-max)")
		fmt.Printf("%-44s %7.1fs %7.1fs %7.1fs\n", "kmirror sync (--jobs 4)", k.Seconds(), med(func(t times) time.Duration { return t.kmirrorCPU }).Seconds(),
			med(func(t times) time.Duration { return t.kmirrorOwn }).Seconds())
		fmt.Printf("%-44s %7.1fs %7.1fs %7.1fs   %.2f (%.2f-%.2f)\n", "skopeo sync --all --preserve-digests", med(func(t times) time.Duration { return t.skopeoSync }).Seconds(),
			med(func(t times) time.Duration { return t.skopeoSyncCPU }).Seconds(), med(func(t times) time.Duration { return t.skopeoSyncOwn }).Seconds(), rSync, loSync, hiSync)
		fmt.Printf("%-44s %7.1fs %7.1fs %7.1fs   %.2f (%.2f-%.2f)\n", "skopeo copy --all --preserve-digests (loop)", med(func(t times) time.Duration { return t.skopeoCopy }).Seconds(),
			med(func(t times) time.Duration { return t.skopeoCopyCPU }).Seconds(), med(func(t times) time.Duration { return t.skopeoCopyOwn }).Seconds(), rCopy, loCopy, hiCopy)
		fmt.Printf("%-44s %7.2fs\n", "kmirror sync again (nothing to copy)", noop.Seconds())
		fmt.Println("CPU: user and system time of the tool, the source and its mirror registry while it ran; tool CPU: the tool's alone")
		for i, t := range all {
			fmt.Printf("round %d: kmirror %.1fs (CPU %.1fs), skopeo sync %.1fs (%.1fs), skopeo copy %.1fs (%.1fs), kmirror again %.2fs\n", i+1,
				t.kmirror.Seconds(), t.kmirrorCPU.Seconds(), t.skopeoSync.Seconds(), t.skopeoSyncCPU.Seconds(),
				t.skopeoCopy.Seconds(), t.skopeoCopyCPU.Seconds(), t.noop.Seconds())
		}
		if r := max(rSync, rCopy); r > targetRatio {
			b.Errorf("kmirror took %.2fx the time of skopeo; the target is at most %.1fx", r, targetRatio)
		}
		if noop > targetNoop {
			b.Errorf("the second kmirror sync took %v; the target is under %v", noop, targetNoop)
		}
	}
}

// round copies the images with each tool into a fresh mirror of its own,
// in an order that turns with r, and checks every mirror's digests.
func (e *env) round(b *testing.B, r int) times {
	var t times
	// cpu runs a tool's step and returns the CPU it and both registries
	// used, and the tool's own.
	cpu := func(m *registrytest.Distribution, step func() time.Duration) (total, own time.Duration) {
		before := procCPU(b, e.src) + procCPU(b, m)
		own = step()
		return own + procCPU(b, e.src) + procCPU(b, m) - before, own
	}
	done := func(m *registrytest.Distribution) {
		m.Stop()
		os.RemoveAll(m.Dir)
	}
	steps := []func(){
		func() {
			m := e.mirror(b, "kmirror", r)
			var again func() time.Duration
			t.kmirrorCPU, t.kmirrorOwn = cpu(m, func() (c time.Duration) { t.kmirror, c, again = e.kmirrorSync(b, m); return c })
			t.noop = again()
			done(m)
		},
		func() {
			m := e.mirror(b, "skopeo-sync", r)
			t.skopeoSyncCPU, t.skopeoSyncOwn = cpu(m, func() (c time.Duration) { t.skopeoSync, c = e.skopeoSync(b, m); return c })
			done(m)
		},
		func() {
			m := e.mirror(b, "skopeo-copy", r)
			t.skopeoCopyCPU, t.skopeoCopyOwn = cpu(m, func() (c time.Duration) { t.skopeoCopy, c = e.skopeoCopyLoop(b, m); return c })
			done(m)
		},
	}
	for i := range steps {
		steps[(i+r)%len(steps)]()
	}
	return t
}

// mirror starts a fresh mirror for a tool, which stops when the round
// is over (its checks done).
func (e *env) mirror(b *testing.B, tool string, r int) *registrytest.Distribution {
	return e.start(b, fmt.Sprintf("%s-%d", tool, r), e.htpasswd)
}

// kmirrorSync copies the images with kmirror sync, and returns the
// arguments that repeat it.
func (e *env) kmirrorSync(b *testing.B, m *registrytest.Distribution) (wall, cpu time.Duration, again func() time.Duration) {
	defer e.checkDigests(b, m)
	dir := filepath.Join(e.dir, "kmirror-"+m.Host[strings.LastIndex(m.Host, ":")+1:])
	os.MkdirAll(dir, 0o700)
	list, rules := filepath.Join(dir, "images.txt"), filepath.Join(dir, "rules.yaml")
	var lines []string
	for _, repo := range e.repos {
		lines = append(lines, e.src.Host+"/"+repo+":v1")
	}
	write(b, list, strings.Join(lines, "\n")+"\n")
	write(b, rules, fmt.Sprintf("apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata:\n  name: bench\nspec:\n  mirrors:\n  - from: %s/\n    to: %s/mirror/\n", e.src.Host, m.Host))
	if err := registrytest.DockerConfig(dir, map[string][2]string{m.Host: {user, password}}); err != nil {
		b.Fatal(err)
	}
	env := []string{"SSL_CERT_FILE=" + filepath.Join(e.certDir, "ca.crt"), "DOCKER_CONFIG=" + dir, "HOME=" + dir}
	args := []string{"sync", "-q", "-o", "json", "--rules", rules, "--images", list}
	wall, cpu, out := run(b, env, e.kmirror, args...)
	if !strings.Contains(out, `"copied": 40,`) {
		b.Fatalf("kmirror sync did not copy 40 images:\n%.3000s", out)
	}
	return wall, cpu, func() time.Duration {
		noop, _, out := run(b, env, e.kmirror, args...)
		if !strings.Contains(out, `"present": 40,`) {
			b.Fatalf("the second kmirror sync did not find 40 images present:\n%.3000s", out)
		}
		return noop
	}
}

// skopeoSync copies the images with one skopeo sync, from a YAML list.
func (e *env) skopeoSync(b *testing.B, m *registrytest.Distribution) (wall, cpu time.Duration) {
	defer e.checkDigests(b, m)
	var y strings.Builder
	fmt.Fprintf(&y, "%s:\n  cert-dir: %s\n  images:\n", e.src.Host, e.certDir)
	for _, repo := range e.repos {
		fmt.Fprintf(&y, "    %s: [v1]\n", repo)
	}
	path := filepath.Join(e.dir, "skopeo-sync-"+m.Host[strings.LastIndex(m.Host, ":")+1:]+".yaml")
	write(b, path, y.String())
	// Without --scoped, skopeo sync puts bench/app-00 under the
	// destination as app-00.
	wall, cpu, _ = run(b, e.skopeoEnv(b), "skopeo", append(e.skopeoFlags(b), "sync", "--all", "--preserve-digests", "--src", "yaml", "--dest", "docker",
		"--dest-cert-dir", e.certDir, "--dest-creds", user+":"+password, path, m.Host+"/mirror/bench")...)
	return wall, cpu
}

// skopeoCopyLoop copies the images one by one with skopeo copy.
func (e *env) skopeoCopyLoop(b *testing.B, m *registrytest.Distribution) (wall, cpu time.Duration) {
	defer e.checkDigests(b, m)
	env := e.skopeoEnv(b)
	for _, repo := range e.repos {
		w, c, _ := run(b, env, "skopeo", append(e.skopeoFlags(b), "copy", "--all", "--preserve-digests",
			"--src-cert-dir", e.certDir, "--dest-cert-dir", e.certDir, "--dest-creds", user+":"+password,
			"docker://"+e.src.Host+"/"+repo+":v1", "docker://"+m.Host+"/mirror/"+repo+":v1")...)
		wall, cpu = wall+w, cpu+c
	}
	return wall, cpu
}

// skopeoFlags gives skopeo a policy of its own, so that no machine policy
// changes what it does.
func (e *env) skopeoFlags(b *testing.B) []string {
	policy := filepath.Join(e.dir, "policy.json")
	write(b, policy, `{"default":[{"type":"insecureAcceptAnything"}]}`)
	return []string{"--policy", policy}
}

// skopeoEnv gives each skopeo run a fresh home, so that no blob cache of
// an earlier run helps it.
func (e *env) skopeoEnv(b *testing.B) []string {
	home, err := os.MkdirTemp(e.dir, "home-")
	if err != nil {
		b.Fatal(err)
	}
	return []string{"HOME=" + home}
}

// checkDigests checks that a mirror holds every image with its source's
// digest.
func (e *env) checkDigests(b *testing.B, m *registrytest.Distribution) {
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: password})
	for _, repo := range e.repos {
		ref, _ := name.ParseReference(m.Host + "/mirror/" + repo + ":v1")
		desc, err := remote.Head(ref, remote.WithTransport(e.transport), auth)
		if err != nil || desc.Digest.String() != e.digests[repo] {
			b.Fatalf("%s is %v (%v), want %s", ref, desc, err, e.digests[repo])
		}
	}
}

// setup starts the source registry, fills it, and builds kmirror.
func setup(b *testing.B) *env {
	b.Helper()
	for _, tool := range []string{"docker-registry", "skopeo", "htpasswd"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is not installed; `make bench-sync` installs it (.ci/deps.sh)", tool)
		}
	}
	e := &env{dir: b.TempDir(), digests: map[string]string{}}
	e.certDir = filepath.Join(e.dir, "certs")
	os.MkdirAll(e.certDir, 0o755)
	var err error
	if e.bundle, _, err = registrytest.TLS(e.certDir); err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.bundle.CA)
	e.transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	e.htpasswd = filepath.Join(e.dir, "htpasswd")
	if err := registrytest.Htpasswd(context.Background(), e.htpasswd, user, password); err != nil {
		b.Fatal(err)
	}
	e.src = e.start(b, "source", "")
	e.fill(b)
	e.kmirror = buildKmirror(b, e.dir)
	return e
}

func (e *env) start(b *testing.B, name, htpasswd string) *registrytest.Distribution {
	dir := filepath.Join(e.dir, name)
	os.MkdirAll(dir, 0o755)
	d, err := registrytest.StartDistribution(registrytest.DistributionOptions{Bin: "docker-registry", Dir: dir, TLS: e.bundle, Htpasswd: htpasswd})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Stop)
	return d
}

// fill pushes the 40 images to the source, four at a time: Docker
// manifest lists and OCI indexes by turns, of 2 or 3 platforms, with 3
// layers of 1 to 4 MB each, the same every run.
func (e *env) fill(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, images)
	sem := make(chan struct{}, 4)
	for i := range images {
		spec := registrytest.Spec{Format: registrytest.Format(i / 2 % 2), Platforms: []string{"linux/amd64", "linux/arm64", "linux/ppc64le"}[:2+i%2],
			Layers: 3, LayerSize: 1<<20 + rng.IntN(3<<20), Seed: uint64(1000 + i)}
		repo := fmt.Sprintf("bench/app-%02d", i)
		e.repos = append(e.repos, repo)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			idx, _, err := registrytest.Make(spec)
			if err != nil {
				errs <- err
				return
			}
			ref, _ := name.ParseReference(e.src.Host + "/" + repo + ":v1")
			if err := remote.WriteIndex(ref, idx, remote.WithTransport(e.transport)); err != nil {
				errs <- fmt.Errorf("pushing %s: %w", ref, err)
				return
			}
			h, _ := idx.Digest()
			mu.Lock()
			e.digests[repo] = h.String()
			e.bytes += int64(len(spec.Platforms) * spec.Layers * spec.LayerSize)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// run runs a command and returns its wall time, its CPU time and its
// stdout; a failure ends the benchmark.
func run(b *testing.B, env []string, name string, args ...string) (time.Duration, time.Duration, string) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%.3000s\n%.3000s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), out.String()
}

func write(b *testing.B, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

// buildKmirror builds kmirror from the tree.
func buildKmirror(b *testing.B, dir string) string {
	b.Helper()
	_, here, _, _ := runtime.Caller(0)
	bin := filepath.Join(dir, "bin", "kmirror")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = filepath.Join(filepath.Dir(here), "..", "..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building kmirror: %v\n%s", err, out)
	}
	return bin
}

// procCPU is the CPU time a registry has used so far.
func procCPU(b *testing.B, d *registrytest.Distribution) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.PID()))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses: utime
	// and stime are the 14th and 15th of the line, in clock ticks (100/s).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var user, sys int64
	fmt.Sscan(f[11], &user)
	fmt.Sscan(f[12], &sys)
	return time.Duration(user+sys) * 10 * time.Millisecond
}
