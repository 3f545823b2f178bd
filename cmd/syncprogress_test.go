package cmd

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"

	"kmirror.dev/kmirror/pkg/mirrorsync"
)

// syncBuffer is a writer that mpb may write to from its goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBarsInterrupted: after Ctrl-C, copies in flight still end and
// others never start; the bars take both, and Wait returns.
func TestBarsInterrupted(t *testing.T) {
	var out syncBuffer
	bars := newBars(&out, 3, mpb.WithAutoRefresh()) // out is no terminal

	a := mirrorsync.Pair{Source: "src/a:1", Target: "mirror/a:1"}
	bars.Started(a)
	bars.Progress(a, 10, 100)
	bars.Done(mirrorsync.Result{Pair: a, Status: mirrorsync.Interrupted, Err: context.Canceled})
	done := make(chan struct{})
	go func() {
		bars.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return with images left")
	}
	if got := out.String(); !strings.Contains(got, "interrupted src/a:1 -> mirror/a:1\n") {
		t.Errorf("bars wrote:\n%s", got)
	}
}
