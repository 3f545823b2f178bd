package admission

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBatchWriterKeepsEveryLineWhole(t *testing.T) {
	var out syncBuffer
	w := NewBatchWriter(&out)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(w, "g%d line %d %s\n", g, i, strings.Repeat("x", i%50))
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		f := append(strings.Fields(line), "")
		g, xs := f[0], f[3]
		i, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if i != next[g] || len(xs) != i%50 {
			t.Fatalf("line %q out of order or cut; want line %d of %s", line, next[g], g)
		}
		next[g]++
	}
	for g := range 8 {
		if n := next[fmt.Sprintf("g%d", g)]; n != 500 {
			t.Errorf("g%d: %d lines, want 500", g, n)
		}
	}
}

// blockingWriter holds every write until released.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	out     bytes.Buffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.out.Write(p)
}

func TestBatchWriterDoesNotWaitForTheWrite(t *testing.T) {
	bw := &blockingWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := NewBatchWriter(bw)
	if _, err := w.Write([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	<-bw.entered // the flusher is stuck in the first write
	wrote := make(chan error, 1)
	go func() {
		_, err := w.Write([]byte("second\n"))
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Write waited for the underlying write")
	}
	close(bw.release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := bw.out.String(); got != "first\nsecond\n" {
		t.Errorf("wrote %q", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestBatchWriterReportsAFailedWrite(t *testing.T) {
	w := NewBatchWriter(failingWriter{})
	if _, err := w.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || err.Error() != "broken pipe" {
		t.Errorf("Close: %v, want the write's error", err)
	}
	if _, err := w.Write([]byte("more\n")); err == nil {
		t.Error("Write after a failure and Close succeeded")
	}
}
