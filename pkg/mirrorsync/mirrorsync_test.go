package mirrorsync

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/registry"
)

func engine(t *testing.T) *mirror.Engine {
	t.Helper()
	eng, err := mirror.New(mirror.Rules{EscapePrefix: "direct.to/", Mirrors: []mirror.Rule{
		{From: "docker.io/", To: "mirror.example.com/hub/"},
		{From: "quay.io/", To: "mirror.example.com/quay/"},
		{From: "k8s.gcr.io/", To: "mirror.example.com/k8s/"},
		{From: "registry.k8s.io/", To: "mirror.example.com/k8s/"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func TestReadList(t *testing.T) {
	eng := engine(t)
	var pl Plan
	skipped, err := pl.ReadList(strings.NewReader(`# images for the mirror
nginx:1.25
  quay.io/prometheus/busybox:latest   # comment

nginx:1.25
direct.to/busybox:1
ghcr.io/x/y:1
mirror.example.com/hub/redis:7
`), "images.txt", eng)
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{
		{"nginx:1.25", "mirror.example.com/hub/nginx:1.25"},
		{"quay.io/prometheus/busybox:latest", "mirror.example.com/quay/prometheus/busybox:latest"},
	}
	if diff := cmp.Diff(want, pl.Pairs()); diff != "" {
		t.Errorf("pairs (-want +got):\n%s", diff)
	}
	var got []string
	for _, s := range skipped {
		got = append(got, s.String())
	}
	wantSkipped := []string{
		"images.txt:6: direct.to/busybox:1: escaped, not copied",
		"images.txt:7: ghcr.io/x/y:1: no rule, not copied",
		"images.txt:8: mirror.example.com/hub/redis:7: already mirrored, not copied",
	}
	if diff := cmp.Diff(wantSkipped, got); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"Busybox:1", "nginx:1 redis:2"} {
		if _, err := pl.ReadList(strings.NewReader("\n"+bad+"\n"), "images.txt", eng); err == nil || !strings.HasPrefix(err.Error(), "images.txt:2: ") {
			t.Errorf("%q: %v, want an error at images.txt:2", bad, err)
		}
	}
}

// TestReadListBOM reads a list saved by an editor that starts it with a
// UTF-8 byte order mark.
func TestReadListBOM(t *testing.T) {
	var pl Plan
	if _, err := pl.ReadList(strings.NewReader("\ufeffnginx:1.25\n"), "images.txt", engine(t)); err != nil {
		t.Fatal(err)
	}
	want := []Pair{{"nginx:1.25", "mirror.example.com/hub/nginx:1.25"}}
	if diff := cmp.Diff(want, pl.Pairs()); diff != "" {
		t.Errorf("pairs (-want +got):\n%s", diff)
	}
}

func TestAddImage(t *testing.T) {
	eng := engine(t)
	var pl Plan
	for _, img := range []string{"nginx:1.25", "direct.to/nginx:1", "ghcr.io/a:1", "mirror.example.com/hub/x:1", "nginx:1.25", "Bad:1"} {
		pl.AddImage(manifest.Image{Decision: eng.Decide(img)})
	}
	if diff := cmp.Diff([]Pair{{"nginx:1.25", "mirror.example.com/hub/nginx:1.25"}}, pl.Pairs()); diff != "" {
		t.Errorf("pairs (-want +got):\n%s", diff)
	}
}

// fakeRegistry answers for images from a table: a digest, or an error.
type fakeRegistry struct {
	mu       sync.Mutex
	images   map[string]string
	errs     map[string]error
	heads    map[string]int
	copies   []string
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	delay    time.Duration
}

func (f *fakeRegistry) Head(ctx context.Context, image string) (*v1.Descriptor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.heads == nil {
		f.heads = map[string]int{}
	}
	f.heads[image]++
	if err := f.errs[image]; err != nil {
		return nil, err
	}
	d, ok := f.images[image]
	if !ok {
		return nil, &registry.Error{Op: "checking", Image: image, Registry: "r", Kind: registry.ErrNotFound}
	}
	h, _ := v1.NewHash(d)
	return &v1.Descriptor{Digest: h}, nil
}

// headCount is how many times image was asked for.
func (f *fakeRegistry) headCount(image string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heads[image]
}

func (f *fakeRegistry) Check(ctx context.Context, src, dst string, _ []v1.Platform) (registry.State, error) {
	s, err := f.Head(ctx, src)
	if err != nil {
		return registry.State{}, err
	}
	st := registry.State{Source: s.Digest.String()}
	if d, err := f.Head(ctx, dst); err == nil {
		st.Target = d.Digest.String()
		st.Present = st.Target == st.Source
	}
	return st, nil
}

func (f *fakeRegistry) Copy(ctx context.Context, src, dst string, o registry.CopyOptions) (registry.CopyResult, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	st, err := f.Check(ctx, src, dst, nil)
	if err != nil || st.Present {
		return registry.CopyResult{State: st, Digest: st.Target}, err
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return registry.CopyResult{}, ctx.Err()
	}
	if o.Progress != nil {
		o.Progress(10, 10)
	}
	f.mu.Lock()
	f.images[dst] = st.Source
	f.copies = append(f.copies, src)
	f.mu.Unlock()
	return registry.CopyResult{State: st, Copied: true, Digest: st.Source, Bytes: 10}, nil
}

const (
	d1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestRun(t *testing.T) {
	f := &fakeRegistry{images: map[string]string{"a:1": d1, "b:1": d1, "c:1": d2, "m/c:1": d2, "d:1": d1, "e:1": d2}, delay: 20 * time.Millisecond}
	pairs := []Pair{{"a:1", "m/a:1"}, {"b:1", "m/b:1"}, {"c:1", "m/c:1"}, {"gone:1", "m/gone:1"}, {"d:1", "m/d:1"}, {"e:1", "m/e:1"}}

	dry := Run(context.Background(), f, pairs, Options{Jobs: 2, DryRun: true})
	if len(f.copies) != 0 {
		t.Errorf("a dry run copied %v", f.copies)
	}
	if diff := cmp.Diff([]Status{WouldCopy, WouldCopy, Present, Failed, WouldCopy, WouldCopy}, statuses(dry)); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}

	obs := &countingObserver{}
	results := Run(context.Background(), f, pairs, Options{Jobs: 2, Observer: obs})
	if diff := cmp.Diff([]Status{Copied, Copied, Present, Failed, Copied, Copied}, statuses(results)); diff != "" {
		t.Errorf("run (-want +got):\n%s", diff)
	}
	if !errors.Is(results[3].Err, registry.ErrNotFound) || results[3].Source != "gone:1" {
		t.Errorf("missing source: %+v", results[3])
	}
	if m := f.maxSeen.Load(); m != 2 {
		t.Errorf("%d copies at once, want 2", m)
	}
	if obs.started.Load() != 6 || obs.done.Load() != 6 || obs.progress.Load() != 4 {
		t.Errorf("observer heard %d starts, %d progress, %d ends", obs.started.Load(), obs.progress.Load(), obs.done.Load())
	}
	want := Summary{Copied: 4, Present: 1, Failed: 1, Bytes: 40}
	if diff := cmp.Diff(want, Summarize(results)); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}

	again := Run(context.Background(), f, pairs, Options{})
	if diff := cmp.Diff(Summary{Present: 5, Failed: 1}, Summarize(again)); diff != "" {
		t.Errorf("second run (-want +got):\n%s", diff)
	}
}

func TestRunInterrupted(t *testing.T) {
	f := &fakeRegistry{images: map[string]string{}, delay: time.Hour}
	var pairs []Pair
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		f.images[s+":1"] = d1
		pairs = append(pairs, Pair{s + ":1", "m/" + s + ":1"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	obs := &countingObserver{}
	results := Run(ctx, f, pairs, Options{Jobs: 2, Observer: obs})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to stop", d)
	}
	if diff := cmp.Diff(Summary{Interrupted: 5}, Summarize(results)); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	for _, r := range results {
		if r.Status != Interrupted || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("%s: %s, %v; want interrupted", r.Source, r.Status, r.Err)
		}
	}
	// Only the two pairs in flight started; none after Ctrl-C.
	if obs.started.Load() != 2 || obs.done.Load() != 2 {
		t.Errorf("observer heard %d starts and %d ends, want 2 and 2", obs.started.Load(), obs.done.Load())
	}
}

// TestRunCopyTimeout: a pair that takes longer than the copy timeout
// fails, saying so, and the others go on; the run is not interrupted.
func TestRunCopyTimeout(t *testing.T) {
	f := &fakeRegistry{images: map[string]string{"a:1": d1, "b:1": d1}, delay: time.Hour}
	// The test's own bound, far above the timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	results := Run(ctx, f, []Pair{{"a:1", "m/a:1"}, {"b:1", "m/b:1"}}, Options{Jobs: 1, CopyTimeout: 50 * time.Millisecond})
	for _, r := range results {
		if r.Status != Failed || !strings.Contains(r.Err.Error(), "copying "+r.Source+" to "+r.Target+": not done within the copy timeout of 50ms") {
			t.Errorf("%s: %s, %v; want failed for the copy timeout", r.Source, r.Status, r.Err)
		}
	}
	if s := Summarize(results); s.Failed != 2 || s.Interrupted != 0 || ctx.Err() != nil {
		t.Errorf("summary %+v; want 2 failed, not interrupted, within the test's bound", s)
	}
}

type countingObserver struct{ started, progress, done atomic.Int32 }

func (o *countingObserver) Started(Pair)                { o.started.Add(1) }
func (o *countingObserver) Progress(Pair, int64, int64) { o.progress.Add(1) }
func (o *countingObserver) Done(Result)                 { o.done.Add(1) }

func statuses(rs []Result) []Status {
	var out []Status
	for _, r := range rs {
		out = append(out, r.Status)
	}
	return out
}

func TestVerify(t *testing.T) {
	eng := engine(t)
	denied := &registry.Error{Op: "checking", Image: "x", Registry: "quay.io", Kind: registry.ErrDenied, Err: errors.New("401")}
	f := &fakeRegistry{
		images: map[string]string{
			"mirror.example.com/hub/nginx:1.25": d1, "nginx:1.25": d1,
			"mirror.example.com/hub/redis:7": d1, "redis:7": d2,
			"mirror.example.com/k8s/pause:3.9": d1, "registry.k8s.io/pause:3.9": d1,
			"busybox:1": d1,
		},
		errs: map[string]error{"mirror.example.com/quay/app:1": denied},
	}
	var fields []manifest.Image
	for i, img := range []string{
		"nginx:1.25",                       // present, same digest
		"nginx:1.25",                       // the same image again
		"redis:7",                          // present, moved upstream
		"mirror.example.com/k8s/pause:3.9", // already mirrored; k8s.gcr.io/ or registry.k8s.io/
		"quay.io/app:1",                    // 401
		"docker.io/library/gone:1",         // missing
		"direct.to/busybox:1",              // escaped: checked where it is
		"Bad:1",                            // invalid
	} {
		fields = append(fields, manifest.Image{Location: manifest.Location{File: "a.yaml", Document: 1, Line: i + 1}, Decision: eng.Decide(img)})
	}
	// An image kept for its pull policy Never is on the node: no registry
	// is asked about it.
	kept := eng.Decide("local/tool:1")
	kept.Action, kept.Result, kept.Err = mirror.Kept, kept.Image, errors.New("imagePullPolicy: Never")
	fields = append(fields, manifest.Image{Location: manifest.Location{File: "a.yaml", Document: 1, Line: 9}, Decision: kept})
	checks := Verify(context.Background(), f, fields, eng, VerifyOptions{SameDigest: true})
	var got []string
	for _, c := range checks {
		got = append(got, string(c.Verdict)+" "+c.Pulled+" "+c.Source)
	}
	want := []string{
		"present mirror.example.com/hub/nginx:1.25 nginx:1.25",
		"present mirror.example.com/hub/nginx:1.25 nginx:1.25",
		"digest mismatch mirror.example.com/hub/redis:7 redis:7",
		"present mirror.example.com/k8s/pause:3.9 registry.k8s.io/pause:3.9",
		"error mirror.example.com/quay/app:1 ",
		"missing mirror.example.com/hub/library/gone:1 ",
		"present busybox:1 ",
		"error Bad:1 ",
		"not pulled local/tool:1 ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	for img, n := range f.heads {
		if n != 1 {
			t.Errorf("%s checked %d times", img, n)
		}
	}
	if _, ok := f.heads["local/tool:1"]; ok {
		t.Error("an image kept for its pull policy was checked")
	}
	if !strings.Contains(checks[4].Error, "denied") {
		t.Errorf("401 reported as %q", checks[4].Error)
	}
	wantSum := VerifySummary{Fields: 9, Images: 8, Present: 4, Missing: 1, Mismatch: 1, NotPulled: 1, Errors: 2}
	if diff := cmp.Diff(wantSum, SummarizeChecks(checks)); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}

	f.heads = nil
	checks = Verify(context.Background(), f, fields[:3], eng, VerifyOptions{})
	if checks[2].Verdict != Found || len(f.heads) != 2 {
		t.Errorf("without --same-digest: %s, heads %v", checks[2].Verdict, f.heads)
	}
}

// subsetRegistry is a fakeRegistry whose indexes may be platform subsets.
type subsetRegistry struct {
	*fakeRegistry
	// subsets are the source digest that each subset records.
	subsets map[string]string
	reads   atomic.Int32
}

func (s *subsetRegistry) SubsetSource(_ context.Context, image string) (string, string, error) {
	s.reads.Add(1)
	if src, ok := s.subsets[image]; ok {
		return src, "linux/amd64,linux/arm64", nil
	}
	return "", "", nil
}

// TestVerifySubset: with --same-digest, a platform subset that sync made
// of the source is present; a subset of another source digest, or an
// index that is no subset, is not.
func TestVerifySubset(t *testing.T) {
	eng := engine(t)
	d3 := "sha256:3333333333333333333333333333333333333333333333333333333333333333"
	r := &subsetRegistry{
		fakeRegistry: &fakeRegistry{images: map[string]string{
			"mirror.example.com/hub/nginx:1": d2, "nginx:1": d1, "docker.io/nginx:1": d1, // a subset of nginx:1
			"mirror.example.com/hub/redis:7": d2, "redis:7": d3, // a subset of what redis:7 was
			"mirror.example.com/hub/app:1": d2, "app:1": d1, // no subset
		}},
		subsets: map[string]string{"mirror.example.com/hub/nginx:1": d1, "mirror.example.com/hub/redis:7": d1},
	}
	var fields []manifest.Image
	for _, img := range []string{"nginx:1", "mirror.example.com/hub/nginx:1", "redis:7", "app:1"} {
		fields = append(fields, manifest.Image{Decision: eng.Decide(img)})
	}
	checks := Verify(context.Background(), r, fields, eng, VerifyOptions{SameDigest: true})
	var got []string
	for _, c := range checks {
		got = append(got, string(c.Verdict)+" "+c.Source+" "+c.Platforms)
	}
	want := []string{
		"present nginx:1 linux/amd64,linux/arm64",
		"present docker.io/nginx:1 linux/amd64,linux/arm64",
		"digest mismatch redis:7 ",
		"digest mismatch app:1 ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if n := r.reads.Load(); n != 3 {
		t.Errorf("%d indexes read, want one per image with another digest: 3", n)
	}
	r.reads.Store(0)
	Verify(context.Background(), r, fields, eng, VerifyOptions{})
	if n := r.reads.Load(); n != 0 {
		t.Errorf("without --same-digest, %d indexes read", n)
	}
}
