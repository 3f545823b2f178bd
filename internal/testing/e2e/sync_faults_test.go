//go:build e2e

package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/internal/testing/registrytest"
)

// TestSyncWrongCredentials: the mirror refuses the password; the message
// names the registry and where the credentials come from, and verify
// reports an error, never a missing image.
func TestSyncWrongCredentials(t *testing.T) {
	f := newSyncFixture(t)
	if err := registrytest.DockerConfig(f.dockerConfig, map[string][2]string{f.mirror.Host: {mirrorUser, "wrong"}}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := f.run(t, "sync", f.deploy)
	want := f.mirror.Host + " denied access"
	if code != 1 || !strings.Contains(out, "failed 4\n") || !strings.Contains(out, want) ||
		!strings.Contains(out, "check the credentials for "+f.mirror.Host+" in "+filepath.Join(f.dockerConfig, "config.json")) {
		t.Errorf("sync with a wrong password: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = f.run(t, "verify", f.deploy)
	if code != 2 || strings.Contains(out, "missing") || !strings.Contains(out, want) || !strings.Contains(errOut, "1 present, 0 missing, 5 not checked") {
		t.Errorf("verify with a wrong password: exit %d\n%s%s", code, out, errOut)
	}
}

// proxy is a TLS reverse proxy in front of a registry, on 127.0.0.1, that
// may answer a request itself or slow the answers down.
type proxy struct {
	host string
	mu   sync.Mutex
	// answer may answer a request instead of the registry.
	answer func(w http.ResponseWriter, r *http.Request) bool
	// times records when each request came.
	times []time.Time
	// rate, when set, limits the bytes per second of all responses.
	rate float64
	next time.Time
}

func startProxy(t *testing.T, r *registries, target string) *proxy {
	t.Helper()
	p := &proxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: target})
	rp.Transport = r.transport
	rp.ModifyResponse = func(resp *http.Response) error {
		if p.rate > 0 {
			resp.Body = &slowBody{ReadCloser: resp.Body, p: p}
		}
		return nil
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p.mu.Lock()
		p.times = append(p.times, time.Now())
		answer := p.answer
		p.mu.Unlock()
		if answer != nil && answer(w, req) {
			return
		}
		rp.ServeHTTP(w, req)
	}))
	cert, err := tls.X509KeyPair(r.bundle.Cert, r.bundle.Key)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.host = strings.TrimPrefix(srv.URL, "https://")
	return p
}

// slowBody hands out bytes no faster than the proxy's rate, shared by all
// responses.
type slowBody struct {
	io.ReadCloser
	p *proxy
}

func (b *slowBody) Read(buf []byte) (int, error) {
	if len(buf) > 32<<10 {
		buf = buf[:32<<10]
	}
	n, err := b.ReadCloser.Read(buf)
	b.p.mu.Lock()
	now := time.Now()
	if b.p.next.Before(now) {
		b.p.next = now
	}
	b.p.next = b.p.next.Add(time.Duration(float64(n) / b.p.rate * float64(time.Second)))
	until := b.p.next
	b.p.mu.Unlock()
	time.Sleep(time.Until(until))
	return n, err
}

// TestSyncRetryAfter: the source answers 429 with Retry-After once; sync
// waits as asked, and copies.
func TestSyncRetryAfter(t *testing.T) {
	f := newSyncFixture(t)
	p := startProxy(t, f.registries, f.src.Host)
	var limitedAt time.Time
	p.answer = func(w http.ResponseWriter, r *http.Request) bool {
		if !limitedAt.IsZero() || !strings.Contains(r.URL.Path, "/manifests/") {
			return false
		}
		limitedAt = time.Now()
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	}
	src := p.host + "/team/list:v1"
	cmd := f.kmirrorCmd("sync", "--images", "-", "--rules", writeRules(t, f.dir, p.host, f.mirror.Host+"/mirror/"))
	cmd.Stdin = strings.NewReader(src + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sync through a rate-limiting registry: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if limitedAt.IsZero() {
		t.Fatal("the proxy never answered 429")
	}
	p.mu.Lock()
	var after time.Duration
	for _, tm := range p.times {
		if tm.After(limitedAt) {
			after = tm.Sub(limitedAt)
			break
		}
	}
	p.mu.Unlock()
	if after < 2*time.Second {
		t.Errorf("the next request came %v after the 429, before its Retry-After of 2s", after)
	}
	if got, _, ok := f.skopeoRaw(t, f.mirror.Host+"/mirror/team/list:v1"); !ok || got != f.digests[f.src.Host+"/team/list:v1"] {
		t.Errorf("the mirror holds %s", got)
	}
}

func writeRules(t *testing.T, dir, from, to string) string {
	t.Helper()
	path := filepath.Join(dir, "rules-"+strings.NewReplacer(":", "-", "/", "-").Replace(from)+".yaml")
	writeTestFile(t, path, "apiVersion: kmirror.dev/v1alpha1\nkind: MirrorRules\nmetadata:\n  name: e2e\nspec:\n  mirrors:\n  - from: "+from+"/\n    to: "+to+"\n")
	return path
}

// TestSyncPlatforms copies a subset of an index, keeping the platform
// images' digests, and refuses a pinned image.
func TestSyncPlatforms(t *testing.T) {
	f := newSyncFixture(t)
	out, errOut, code := f.run(t, "sync", "--platform", "linux/arm64,linux/arm/v7", f.deploy)
	if code != 1 || !strings.HasPrefix(out, "copied 2 images ") || !strings.Contains(out, "failed 2\n") || !strings.Contains(out, "failed: "+f.pinned) || !strings.Contains(out, "digest-pinned") {
		t.Errorf("sync --platform: exit %d\n%s%s", code, out, errOut)
	}
	digest, raw, ok := f.skopeoRaw(t, f.mirror.Host+"/mirror/team/list:v1")
	if !ok || digest == f.digests[f.src.Host+"/team/list:v1"] {
		t.Fatalf("the subset has the source's digest %s", digest)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range idx.Manifests {
		platforms = append(platforms, d.Platform.String())
		if got, _, ok := f.skopeoRaw(t, f.mirror.Host+"/mirror/team/list@"+d.Digest.String()); !ok || got != d.Digest.String() {
			t.Errorf("platform image %s: %s", d.Digest, got)
		}
	}
	if strings.Join(platforms, " ") != "linux/arm64 linux/arm/v7" {
		t.Errorf("the subset has %v", platforms)
	}
	// The OCI index has neither platform: it fails, and says so.
	if !strings.Contains(out, "team/oci:v1: ") || !strings.Contains(out, "none of the platforms linux/arm/v7,linux/arm64") {
		t.Errorf("the OCI index without those platforms:\n%s", out)
	}
	puts := f.mirrorRequests(t, "PUT")
	if out, errOut, code = f.run(t, "sync", "--platform", "linux/arm64,linux/arm/v7", f.deploy); !strings.Contains(out, "copied 0 images (0 B), already present 2") {
		t.Errorf("second sync --platform: exit %d\n%s%s", code, out, errOut)
	}
	if n := f.mirrorRequests(t, "PUT") - puts; n != 0 {
		t.Errorf("second sync --platform sent %d PUT requests", n)
	}
}

// TestSyncMounts: an image whose blobs are in another repository of the
// mirror is mounted from there, not uploaded again.
func TestSyncMounts(t *testing.T) {
	f := newSyncFixture(t)
	f.push(t, f.src.Host+"/other/list:v1", listSpec) // the same blobs as team/list
	list := filepath.Join(f.dir, "images.txt")
	writeTestFile(t, list, f.src.Host+"/team/list:v1\n"+f.src.Host+"/other/list:v1\n")
	out, errOut, code := f.run(t, "sync", "--jobs", "1", "--images", list)
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	patches, err := f.mirror.Requests("PATCH", "/v2/mirror/other/list/")
	if err != nil {
		t.Fatal(err)
	}
	mounts, _ := f.mirror.Requests("POST", "/v2/mirror/other/list/blobs/uploads/?from=mirror%2Fteam%2Flist&mount=")
	if patches != 0 || mounts != 9 { // 3 platforms, each with 2 layers and a config
		t.Errorf("the second image took %d uploads and %d mounts, want 0 and 9", patches, mounts)
	}
	if got, _, ok := f.skopeoRaw(t, f.mirror.Host+"/mirror/other/list:v1"); !ok || got != f.digests[f.src.Host+"/team/list:v1"] {
		t.Errorf("the mounted image reads as %s", got)
	}
}

// TestSyncInterrupt: Ctrl-C in the middle of a copy stops kmirror at once,
// and leaves no tag naming a manifest or blob the mirror lacks.
func TestSyncInterrupt(t *testing.T) {
	r := startRegistries(t)
	p := startProxy(t, r, r.src.Host)
	p.rate = 4 << 20 // bytes per second, so the copy lasts about 9s
	var images []string
	for i, name := range []string{"a", "b", "c"} {
		spec := registrytest.Spec{Format: registrytest.Docker, Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: 2, LayerSize: 3 << 20, Seed: uint64(100 + i)}
		r.push(t, r.src.Host+"/big/"+name+":1", spec)
		images = append(images, p.host+"/big/"+name+":1")
	}
	list := filepath.Join(r.dir, "images.txt")
	writeTestFile(t, list, strings.Join(images, "\n")+"\n")
	rules := writeRules(t, r.dir, p.host, r.mirror.Host+"/mirror/")
	cmd := r.kmirrorCmd("sync", "--rules", rules, "--images", list)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first blob is in the mirror.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := r.mirror.Requests("PUT", "/blobs/uploads/")
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no blob reached the mirror in 30s\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	stopped := make(chan error, 1)
	go func() { stopped <- cmd.Wait() }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("kmirror still ran 5s after Ctrl-C\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("interrupted sync: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	tagged := r.checkTags(t)
	if tagged == len(images) {
		t.Errorf("every image was copied before the interrupt; the test proves nothing")
	}
	// A new run finishes the copy.
	p.rate = 0
	if out, errOut, code := r.kmirror(t, "", "sync", "--rules", rules, "--images", list); code != 0 || !strings.Contains(out, "failed 0") {
		t.Errorf("sync after the interrupt: exit %d\n%s%s", code, out, errOut)
	}
	if n := r.checkTags(t); n != len(images) {
		t.Errorf("%d images tagged after the second sync, want %d", n, len(images))
	}
}

// checkTags reads every tag of the mirror's catalog with skopeo, and every
// platform image and blob it names; it returns how many tags there are.
func (r *registries) checkTags(t *testing.T) int {
	t.Helper()
	var catalog struct{ Repositories []string }
	r.mirrorGet(t, "/v2/_catalog", &catalog)
	n := 0
	for _, repo := range catalog.Repositories {
		var tags struct{ Tags []string }
		r.mirrorGet(t, "/v2/"+repo+"/tags/list", &tags)
		for _, tag := range tags.Tags {
			n++
			_, raw, ok := r.skopeoRaw(t, r.mirror.Host+"/"+repo+":"+tag)
			if !ok {
				t.Errorf("tag %s:%s names a manifest skopeo cannot read", repo, tag)
				continue
			}
			r.checkManifest(t, repo, raw)
		}
	}
	return n
}

// checkManifest checks that the mirror holds everything raw names.
func (r *registries) checkManifest(t *testing.T, repo string, raw []byte) {
	t.Helper()
	if idx, err := v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil && len(idx.Manifests) > 0 {
		for _, d := range idx.Manifests {
			_, child, ok := r.skopeoRaw(t, r.mirror.Host+"/"+repo+"@"+d.Digest.String())
			if !ok {
				t.Errorf("%s names a missing manifest %s", repo, d.Digest)
				continue
			}
			r.checkManifest(t, repo, child)
		}
		return
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range append(m.Layers, m.Config) {
		req, _ := http.NewRequest(http.MethodHead, "https://"+r.mirror.Host+"/v2/"+repo+"/blobs/"+d.Digest.String(), nil)
		req.SetBasicAuth(mirrorUser, mirrorPassword)
		resp, err := (&http.Client{Transport: r.transport}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s names blob %s, which the mirror answers %d", repo, d.Digest, resp.StatusCode)
		}
	}
}

func (r *registries) mirrorGet(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://"+r.mirror.Host+path, nil)
	req.SetBasicAuth(mirrorUser, mirrorPassword)
	resp, err := (&http.Client{Transport: r.transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := jsonDecode(resp.Body, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
