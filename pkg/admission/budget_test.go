package admission

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/jsonnode"
)

// heldBy returns the most heap that serving body held at once, above what
// was in use before, with the collector running all the time so that
// garbage counts little. What it samples still counts the garbage the
// collector has not freed yet, more on a busy machine; so held is at most
// what serving allocated, which does not depend on the collector.
func heldBy(t *testing.T, h *Handler, body []byte) (status int, held uint64) {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	// Twice, to empty the pools too: the review finds no memory to reuse,
	// whatever the reviews before it left.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, allocated := ms.HeapAlloc, ms.TotalAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Microsecond):
			}
		}
	}()
	r := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	close(done)
	<-sampled
	runtime.ReadMemStats(&ms)
	// The recorder's copy of the answer, allocated while serving, is the
	// test's.
	answer := uint64(w.Body.Cap())
	held = min(max(peak.Load(), base+answer)-base, ms.TotalAlloc-allocated)
	return w.Code, held - answer
}

// costOf returns what the budget holds for body once it is parsed, or
// before, when the parse stops at a limit.
func costOf(body []byte) int64 {
	if _, err := (&jsonnode.Arena{MaxNodes: MaxValues, MaxDepth: MaxDepth}).Parse(body); err != nil {
		return worstCost(int64(len(body)))
	}
	return reviewCost(int64(len(body)), int64(jsonnode.ValuesBound(body)), imagesBound(body))
}

// TestBudgetLetsWhatFitsGoAhead: a review that fits goes ahead of a larger
// one that waits, which gets its room when enough is given back, or
// errBusy in time.
func TestBudgetLetsWhatFitsGoAhead(t *testing.T) {
	size := worstCost(MaxBodyBytes)
	b := newBudget(1, time.Minute)
	held, err := b.reserve(context.Background(), size-1000)
	if err != nil {
		t.Fatal(err)
	}
	large := make(chan error)
	go func() {
		r, err := b.reserve(context.Background(), 2000)
		if err == nil {
			r.release()
		}
		large <- err
	}()
	small, err := b.reserve(context.Background(), 500)
	if err != nil {
		t.Fatalf("a review that fits waited: %v", err)
	}
	small.release()
	held.shrink(size - 3000)
	if err := <-large; err != nil {
		t.Errorf("the larger review: %v", err)
	}
	held.release()
	b.wait = 10 * time.Millisecond
	if _, err := b.reserve(context.Background(), size+1); !errors.Is(err, errBusy) {
		t.Errorf("a reservation larger than the budget: %v, want errBusy", err)
	}
	if b.free != size {
		t.Errorf("%d free, want all %d", b.free, size)
	}
}

// TestBoundsFromBytes holds the bounds the budget reads from a body's
// bytes above what the parse finds in it.
func TestBoundsFromBytes(t *testing.T) {
	for _, doc := range []string{
		`{}`, `[]`, `0`, `""`, `[0,0,0]`, `{"a":{"b":[{},[]]}}`,
		`{"image":"a","x":{"image":{"image":1}}}`,
		`{"im\u0061ge":"a","\u0069mage":"b"}`,
		`{"s":"\"image\": not a key, {, [","image":"a"}`,
		`{"kind":"Pod","spec":{"containers":[{"name":"a","image":"nginx"},{"name":"b","image":"x"}]}}`,
	} {
		root, err := jsonnode.Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := int64(jsonnode.ValuesBound([]byte(doc))), nodes(root); got < want {
			t.Errorf("%s: valuesBound %d, under the %d values", doc, got, want)
		}
		if got, want := imagesBound([]byte(doc)), imageKeys(root); got < want {
			t.Errorf("%s: imagesBound %d, under the %d keys named image", doc, got, want)
		}
	}
}

func nodes(n *yaml.Node) int64 {
	count := int64(1)
	for _, c := range n.Content {
		count += nodes(c)
	}
	return count
}
