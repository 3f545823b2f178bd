package mirrorsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/registry"
)

// flaky fails the first copies it is asked for.
type flaky struct {
	*fakeRegistry
	failures atomic.Int32
}

func (f *flaky) Copy(ctx context.Context, src, dst string, o registry.CopyOptions) (registry.CopyResult, error) {
	if f.failures.Add(-1) >= 0 {
		return registry.CopyResult{}, &registry.Error{Op: "writing", Image: dst, Registry: "m", Err: errors.New("unexpected status code 503")}
	}
	return f.fakeRegistry.Copy(ctx, src, dst, o)
}

// doneLog collects what a Queue says is done.
type doneLog struct {
	mu      sync.Mutex
	results []Result
	ch      chan Result
}

func newDoneLog() *doneLog { return &doneLog{ch: make(chan Result, 100)} }

func (d *doneLog) done(r Result) {
	d.mu.Lock()
	d.results = append(d.results, r)
	d.mu.Unlock()
	d.ch <- r
}

func (d *doneLog) next(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-d.ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no copy done in 10s")
		return Result{}
	}
}

func count(m *QueueMetrics, result string) float64 {
	return testutil.ToFloat64(m.copies.WithLabelValues(result))
}

func TestQueueCopiesEachPairOnce(t *testing.T) {
	f := &fakeRegistry{images: map[string]string{"a:1": d1}, delay: 50 * time.Millisecond}
	done := newDoneLog()
	m := NewQueueMetrics(prometheus.NewRegistry())
	q := NewQueue(f, QueueOptions{Done: done.done, Metrics: m})
	defer q.Close()
	p := Pair{"a:1", "m/a:1"}
	queued := 0
	for range 10 {
		if q.Enqueue(p) {
			queued++
		}
	}
	if queued != 1 {
		t.Errorf("a pair asked for 10 times was queued %d times", queued)
	}
	if r := done.next(t); r.Status != Copied || r.Digest != d1 || r.Pair != p {
		t.Errorf("done %+v", r)
	}
	if len(f.copies) != 1 || count(m, "copied") != 1 || testutil.ToFloat64(m.bytes) != 10 || testutil.ToFloat64(m.pending) != 0 {
		t.Errorf("copies %v, metrics copied %v, bytes %v, depth %v", f.copies, count(m, "copied"), testutil.ToFloat64(m.bytes), testutil.ToFloat64(m.pending))
	}
	if !q.Enqueue(p) {
		t.Fatal("a pair done with is not queued again")
	}
	if r := done.next(t); r.Status != Present || len(f.copies) != 1 {
		t.Errorf("again: %+v, copies %v", r, f.copies)
	}
}

// TestQueueIsBounded: with the workers busy, the queue fills up, and
// Enqueue drops what does not fit rather than wait.
func TestQueueIsBounded(t *testing.T) {
	f := &fakeRegistry{images: map[string]string{"a:1": d1, "b:1": d1, "c:1": d1, "d:1": d1}, delay: time.Hour}
	m := NewQueueMetrics(prometheus.NewRegistry())
	q := NewQueue(f, QueueOptions{Size: 3, Workers: 1, Metrics: m})
	var got []bool
	for _, s := range []string{"a", "b", "c", "d"} {
		got = append(got, q.Enqueue(Pair{s + ":1", "m/" + s + ":1"}))
	}
	if want := []bool{true, true, true, false}; !equal(got, want) {
		t.Errorf("queued %v, want %v", got, want)
	}
	if count(m, "dropped") != 1 || testutil.ToFloat64(m.pending) != 3 {
		t.Errorf("dropped %v, depth %v", count(m, "dropped"), testutil.ToFloat64(m.pending))
	}
	for f.inFlight.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	abandoned, forgotten := q.Close()
	if abandoned != 1 || forgotten != 2 || count(m, "abandoned") != 1 {
		t.Errorf("Close abandoned %d and forgot %d; want 1 and 2", abandoned, forgotten)
	}
	if _, ok := f.images["m/a:1"]; ok || q.Enqueue(Pair{"d:1", "m/d:1"}) {
		t.Error("an abandoned copy was written, or a closed queue takes pairs")
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueueRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int32
		src      string
		want     Status
		retried  float64
	}{
		{"a failure that passes", 2, "a:1", Copied, 2},
		{"a failure that lasts", 100, "a:1", Failed, 2},
		{"a missing source is not tried again", 0, "gone:1", Failed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{fakeRegistry: &fakeRegistry{images: map[string]string{"a:1": d1}}}
			f.failures.Store(tc.failures)
			done := newDoneLog()
			m := NewQueueMetrics(prometheus.NewRegistry())
			q := NewQueue(f, QueueOptions{Attempts: 3, Backoff: time.Millisecond, Done: done.done, Metrics: m})
			defer q.Close()
			q.Enqueue(Pair{tc.src, "m/" + tc.src})
			r := done.next(t)
			if r.Status != tc.want || count(m, "retried") != tc.retried {
				t.Errorf("done %+v after %v retries; want %s after %v", r, count(m, "retried"), tc.want, tc.retried)
			}
			if tc.want == Failed && count(m, "failed") != 1 {
				t.Errorf("failed %v, want 1", count(m, "failed"))
			}
		})
	}
}

// TestQueueHoldsWhatFailed: a pair given up is not queued again before its
// hold is over, however often it is asked for: one source request for 31
// asks. The hold doubles each time the pair is given up again, and a copy
// that succeeds ends it.
func TestQueueHoldsWhatFailed(t *testing.T) {
	f := &fakeRegistry{images: map[string]string{}}
	done := newDoneLog()
	q := NewQueue(f, QueueOptions{Hold: time.Minute, Done: done.done})
	defer q.Close()
	now := time.Now()
	q.now = func() time.Time { return now }
	gone := Pair{"gone:1", "m/gone:1"}
	ask := func() int {
		queued := 0
		for range 31 {
			if q.Enqueue(gone) {
				queued++
				done.next(t)
			}
		}
		return queued
	}
	if n := ask(); n != 1 || f.headCount("gone:1") != 1 {
		t.Errorf("31 asks for a missing source queued %d copies and sent %d requests to it; want 1 and 1", n, f.headCount("gone:1"))
	}
	// Held for a minute, then for two.
	failedAt := now
	for _, hold := range []time.Duration{time.Minute, 2 * time.Minute} {
		now = failedAt.Add(hold - time.Second)
		if n := ask(); n != 0 {
			t.Errorf("%v after a failure held for %v: queued %d", hold-time.Second, hold, n)
		}
		now = failedAt.Add(hold)
		if n := ask(); n != 1 {
			t.Errorf("once a hold of %v is over: queued %d, want 1", hold, n)
		}
		failedAt = now
	}
	if n := f.headCount("gone:1"); n != 3 {
		t.Errorf("the source was asked %d times, want 3", n)
	}

	// A copy that succeeds ends the hold: a failure after it holds for a
	// minute again.
	now = now.Add(4 * time.Minute)
	f.mu.Lock()
	f.images["gone:1"] = d1
	f.mu.Unlock()
	if !q.Enqueue(gone) || done.next(t).Status != Copied {
		t.Fatal("the source that came back was not copied")
	}
	f.mu.Lock()
	delete(f.images, "gone:1")
	delete(f.images, "m/gone:1")
	f.mu.Unlock()
	q.Enqueue(gone)
	done.next(t)
	now = now.Add(time.Minute)
	if !q.Enqueue(gone) {
		t.Error("after a success, a failure holds for more than a minute")
	}
	done.next(t)
}

// TestQueueHoldsAreBounded: the holds kept are at most Size, the one that
// ends first going first.
func TestQueueHoldsAreBounded(t *testing.T) {
	f := &fakeRegistry{images: map[string]string{}}
	done := newDoneLog()
	q := NewQueue(f, QueueOptions{Size: 2, Hold: time.Minute, Done: done.done})
	defer q.Close()
	now := time.Now()
	q.now = func() time.Time { return now }
	for _, s := range []string{"a", "b", "c"} {
		q.Enqueue(Pair{s + ":1", "m/" + s + ":1"})
		done.next(t)
		now = now.Add(time.Second)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.held[Pair{"a:1", "m/a:1"}]; len(q.held) != 2 || ok {
		t.Errorf("holds %v; want b and c", q.held)
	}
}

// TestQueueWorkersComeBack: copies from a source that accepts connections
// and never answers end at the copy timeout and give their workers back:
// with four workers, a copy queued after four such is done.
func TestQueueWorkersComeBack(t *testing.T) {
	silent := silentSource(t)
	good := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer good.Close()
	host := strings.TrimPrefix(good.URL, "http://")
	_, img, err := registrytest.Make(registrytest.Spec{Platforms: []string{"linux/amd64"}, Single: true, Layers: 1, LayerSize: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host+"/app:1", name.Insecure)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	c, err := registry.New(registry.Options{PlainHTTP: []string{silent, host}, Keychain: authn.NewMultiKeychain(), Retry: registry.Retry{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	done := newDoneLog()
	q := NewQueue(c, QueueOptions{Workers: 4, Attempts: 1, CopyTimeout: 200 * time.Millisecond, Done: done.done})
	defer q.Close()
	for i := range 4 {
		q.Enqueue(Pair{fmt.Sprintf("%s/app:%d", silent, i), fmt.Sprintf("%s/mirror/stalled:%d", host, i)})
	}
	q.Enqueue(Pair{host + "/app:1", host + "/mirror/app:1"})
	timedOut, copied := 0, 0
	for range 5 {
		switch r := done.next(t); {
		case r.Status == Copied:
			copied++
		case r.Err != nil && strings.Contains(r.Err.Error(), "not done within the copy timeout of 200ms"):
			timedOut++
		default:
			t.Errorf("unexpected result %+v", r)
		}
	}
	if timedOut != 4 || copied != 1 {
		t.Errorf("%d copies timed out and %d copied; want 4 and 1", timedOut, copied)
	}
}

// silentSource is a registry host that accepts connections and never
// answers.
func silentSource(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
			default:
				return
			}
		}
	})
	return ln.Addr().String()
}
