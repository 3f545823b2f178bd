package mirrorcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kmirror.dev/kmirror/pkg/registry"
)

// fakeRegistry answers HEAD requests from a map: an image it holds, one it
// answers with an error, and "not found" for the others. A request waits
// for gate when it is set.
type fakeRegistry struct {
	mu      sync.Mutex
	present map[string]bool
	errs    map[string]error
	calls   map[string]int
	gate    chan struct{}
	// delay is how long each request takes.
	delay    time.Duration
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

func newFake(present ...string) *fakeRegistry {
	f := &fakeRegistry{present: map[string]bool{}, errs: map[string]error{}, calls: map[string]int{}}
	for _, p := range present {
		f.present[p] = true
	}
	return f
}

func (f *fakeRegistry) Head(ctx context.Context, image string) (*v1.Descriptor, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.calls[image]++
	gate := f.gate
	f.mu.Unlock()
	time.Sleep(f.delay)
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, fmt.Errorf("checking %s: %w", image, ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[image]; err != nil {
		return nil, err
	}
	if f.present[image] {
		return &v1.Descriptor{}, nil
	}
	return nil, &registry.Error{Op: "checking", Image: image, Registry: "mirror.example.com", Kind: registry.ErrNotFound}
}

func (f *fakeRegistry) called(image string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[image]
}

// check runs Check and its wait, and returns the answers' states.
func check(c *Checker, images ...string) ([]Result, bool) {
	out := make([]Result, len(images))
	wait := c.Check(images, out)
	if wait != nil {
		wait(context.Background())
	}
	return out, wait == nil
}

func states(rs []Result) []string {
	var s []string
	for _, r := range rs {
		s = append(s, r.State.String())
	}
	return s
}

// testClock is the cache's time, which a test moves.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *testClock) NowNano() int64                      { return c.ns.Load() }
func (c *testClock) Tick(time.Duration) <-chan time.Time { return nil }
func (c *testClock) add(d time.Duration)                 { c.ns.Add(int64(d)) }

func testOptions() Options {
	return Options{Timeout: time.Second, PresentTTL: time.Hour, MissingTTL: time.Minute, FailedTTL: 5 * time.Second}
}

func TestCheckCachesEachAnswerForItsTime(t *testing.T) {
	f := newFake("m/present:1")
	f.errs["m/broken:1"] = errors.New("checking m/broken:1: unexpected status code 503 Service Unavailable")
	reg := prometheus.NewRegistry()
	o := testOptions()
	o.Metrics = NewMetrics(reg)
	clock := newTestClock()
	c := newChecker(f, o, clock)
	images := []string{"m/present:1", "m/missing:1", "m/broken:1", "m/present:1"}

	got, known := check(c, images...)
	if diff := cmp.Diff([]string{"present", "missing", "error", "present"}, states(got)); diff != "" || known {
		t.Fatalf("first check (-want +got):\n%s (all known: %v)", diff, known)
	}
	if !strings.Contains(got[2].Reason, "503") || got[0].Cached {
		t.Errorf("answers %+v", got)
	}
	if f.called("m/present:1") != 1 {
		t.Errorf("an image twice in one Pod was checked %d times", f.called("m/present:1"))
	}
	for _, tc := range []struct {
		after time.Duration
		want  map[string]int
	}{
		{time.Second, map[string]int{"m/present:1": 1, "m/missing:1": 1, "m/broken:1": 1}},
		{6 * time.Second, map[string]int{"m/present:1": 1, "m/missing:1": 1, "m/broken:1": 2}},
		{2 * time.Minute, map[string]int{"m/present:1": 1, "m/missing:1": 2, "m/broken:1": 3}},
		{2 * time.Hour, map[string]int{"m/present:1": 2, "m/missing:1": 3, "m/broken:1": 4}},
	} {
		clock.add(tc.after)
		got, _ = check(c, images...)
		if diff := cmp.Diff([]string{"present", "missing", "error", "present"}, states(got)); diff != "" {
			t.Errorf("after %s (-want +got):\n%s", tc.after, diff)
		}
		for img, n := range tc.want {
			if f.called(img) != n {
				t.Errorf("after %s: %s checked %d times, want %d", tc.after, img, f.called(img), n)
			}
		}
	}
	if _, known := check(c, images...); !known {
		t.Error("cached answers need a wait")
	}
	if got := testutil.ToFloat64(o.Metrics.checks.WithLabelValues("missing")); got != 3 {
		t.Errorf("kmirror_mirror_checks_total{result=missing} = %v, want 3", got)
	}
	if hits, misses := testutil.ToFloat64(o.Metrics.hits), testutil.ToFloat64(o.Metrics.miss); hits != 13 || misses != 11 {
		t.Errorf("cache hits %v, misses %v; want 13 and 11", hits, misses)
	}
	if n := testutil.CollectAndCount(reg, "kmirror_mirror_check_duration_seconds"); n != 1 {
		t.Errorf("no latency histogram: %d", n)
	}
}

func TestConcurrentChecksShareOneRequest(t *testing.T) {
	f := newFake("m/a:1")
	f.gate = make(chan struct{})
	c := New(f, testOptions())
	var wg sync.WaitGroup
	results := make([][]Result, 50)
	for i := range results {
		wg.Go(func() { results[i], _ = check(c, "m/a:1") })
	}
	for f.called("m/a:1") == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(f.gate)
	wg.Wait()
	if n := f.called("m/a:1"); n != 1 {
		t.Errorf("50 concurrent checks sent %d requests, want 1", n)
	}
	for _, r := range results {
		if r[0].State != Present {
			t.Fatalf("answer %+v", r[0])
		}
	}
}

func TestRequestsInFlightAreBounded(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	o := testOptions()
	o.MaxRequests, o.MaxReviewChecks = 3, 20
	c := New(f, o)
	var images []string
	for i := range 20 {
		images = append(images, fmt.Sprintf("m/app:%d", i))
	}
	done := make(chan []Result)
	go func() { r, _ := check(c, images...); done <- r }()
	for deadline := time.Now().Add(10 * time.Second); f.inFlight.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if n := f.inFlight.Load(); n != 3 {
		t.Errorf("%d requests in flight, want 3", n)
	}
	close(f.gate)
	got := <-done
	if f.maxSeen.Load() != 3 || got[19].State != Missing {
		t.Errorf("at most %d requests in flight, want 3; last answer %+v", f.maxSeen.Load(), got[19])
	}
}

// TestSlowRegistry: a caller stops waiting when its context ends; the
// check goes on to its own time limit, and its failure is cached.
func TestSlowRegistry(t *testing.T) {
	f := newFake("m/a:1")
	f.gate = make(chan struct{})
	defer close(f.gate)
	o := testOptions()
	o.Timeout = 500 * time.Millisecond
	c := New(f, o)
	out := make([]Result, 1)
	wait := c.Check([]string{"m/a:1"}, out)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	wait(ctx)
	if took := time.Since(start); out[0].State != Failed || out[0].Reason != "no answer within the review's time budget" || took > 400*time.Millisecond {
		t.Errorf("after %s: %+v", took, out[0])
	}
	// A second caller joins the same check and gets its own answer.
	wait = c.Check([]string{"m/a:1"}, out)
	wait(context.Background())
	if took := time.Since(start); out[0].State != Failed || out[0].Reason != "no answer from the registry within 500ms" || took < 500*time.Millisecond {
		t.Errorf("after %s: %+v", took, out[0])
	}
	if f.called("m/a:1") != 1 {
		t.Errorf("%d requests", f.called("m/a:1"))
	}
	if got, known := check(c, "m/a:1"); !known || got[0].State != Failed || !got[0].Cached {
		t.Errorf("the failure is not cached: %+v", got[0])
	}
}

func TestPendingChecksAreBounded(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	defer close(f.gate)
	o := testOptions()
	o.MaxPending = 2
	c := New(f, o)
	out := make([]Result, 3)
	wait := c.Check([]string{"m/a:1", "m/b:1", "m/c:1"}, out)
	if wait == nil || out[2].State != Failed || !strings.Contains(out[2].Reason, "2 checks of the mirror are in flight") {
		t.Errorf("the third check: %+v", out[2])
	}
}

func TestCacheBounds(t *testing.T) {
	f := newFake()
	o := testOptions()
	o.MaxBytes = 4096
	c := New(f, o)
	long := strings.Repeat("x", 1000)
	for i := range 10 {
		check(c, fmt.Sprintf("m/%d/%s", i, long))
	}
	c.answers.CleanUp()
	if w := c.answers.WeightedSize(); w > 4096 || c.entries() > 3 {
		t.Errorf("%d bytes in %d entries, want at most 4096", w, c.entries())
	}
	huge := "m/" + strings.Repeat("y", 5000)
	check(c, huge)
	c.answers.CleanUp()
	if _, ok := c.answers.GetIfPresent(huge); ok || c.answers.WeightedSize() > 4096 {
		t.Errorf("an answer larger than the bound was cached: %d bytes", c.answers.WeightedSize())
	}
}

// TestZeroTTLCachesNothing: --present-ttl 0 remembers no answer.
func TestZeroTTLCachesNothing(t *testing.T) {
	f := newFake("m/a:1")
	o := testOptions()
	o.PresentTTL = 0
	c := New(f, o)
	check(c, "m/a:1")
	c.SetPresent("m/a:1")
	if got, known := check(c, "m/a:1"); known || got[0].State != Present || f.called("m/a:1") != 2 {
		t.Errorf("with a TTL of zero: %+v, known %v, %d requests; want present, not known, 2 requests", got[0], known, f.called("m/a:1"))
	}
}

// TestSetPresentWinsOverAStaleCheck: a copy completes while a check that
// started before it is in flight; the check's "missing" is older, and
// neither its callers nor the cache get it.
func TestSetPresentWinsOverAStaleCheck(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	c := New(f, testOptions())
	out := make([]Result, 1)
	wait := c.Check([]string{"m/a:1"}, out)
	time.Sleep(time.Millisecond)
	c.SetPresent("m/a:1")
	close(f.gate)
	wait(context.Background())
	if out[0].State != Present {
		t.Errorf("the check in flight answered %v, want present", out[0].State)
	}
	if got, known := check(c, "m/a:1"); !known || got[0].State != Present {
		t.Errorf("after the copy: %+v, cached %v; want present", got[0], known)
	}
}

// TestCacheResistsAScan: a team's images, checked before and again while
// a flood of images checked once goes through a cache that cannot hold
// them all, stay cached. A cache that evicts the least recently used
// answer checks them all again each round: 500 times. The frequency sketch
// is a sketch: a few answers in a hundred go all the same (6 to 12 in
// 40 runs).
func TestCacheResistsAScan(t *testing.T) {
	var team []string
	for i := range 50 {
		team = append(team, fmt.Sprintf("mirror.example.com/team/app%d:1", i))
	}
	f := newFake(team...)
	o := testOptions()
	// Some 330 answers.
	o.MaxBytes = 64 << 10
	c := New(f, o)
	reviews := func(images []string) {
		for i := 0; i < len(images); i += 5 {
			check(c, images[i:i+5]...)
			// The cache's upkeep, which its goroutine does between
			// reviews: a loop this tight would outrun it, and hits it has
			// not counted yet would not count.
			c.answers.CleanUp()
		}
	}
	for range 3 {
		reviews(team)
	}
	flood := make([]string, 1000)
	for round := range 10 {
		// Three times as many images as the cache holds.
		for i := range flood {
			flood[i] = fmt.Sprintf("mirror.example.com/flood/new%d:1", round*len(flood)+i)
		}
		reviews(flood)
		reviews(team)
	}
	again := 0
	for _, img := range team {
		again += f.called(img) - 1
	}
	if again > len(team) {
		t.Errorf("while 10,000 new images were checked, the team's images were checked %d times again; want at most %d", again, len(team))
	}
}

// TestReviewsShareTheSlots: a review of many images new to the cache waits
// for a few checks only, so that a review that comes after it gets a
// request slot within its time limit.
func TestReviewsShareTheSlots(t *testing.T) {
	f := newFake("m/victim:1")
	f.delay = 20 * time.Millisecond
	o := testOptions()
	o.MaxRequests = 2
	c := New(f, o)
	var flood []string
	for i := range 200 {
		flood = append(flood, fmt.Sprintf("m/flood:%d", i))
	}
	floodOut := make([]Result, len(flood))
	floodWait := c.Check(flood, floodOut)
	got, _ := check(c, "m/victim:1")
	if got[0].State != Present {
		t.Errorf("the victim's image, behind a review of %d new images: %+v", len(flood), got[0])
	}
	floodWait(context.Background())
	started := 0
	for _, r := range floodOut {
		if r.State == Missing {
			started++
		}
	}
	if started != DefaultMaxReviewChecks || !strings.Contains(floodOut[len(flood)-1].Reason, "more than 8 images not checked yet") {
		t.Errorf("the review of %d new images had %d checked, want %d; the last: %+v", len(flood), started, DefaultMaxReviewChecks, floodOut[len(flood)-1])
	}
}
