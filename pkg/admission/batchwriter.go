package admission

import (
	"io"
	"sync"
)

// maxBatch bounds what a BatchWriter holds; a Write past it waits.
const maxBatch = 1 << 20

// BatchWriter writes to an io.Writer from a goroutine of its own: what is
// written while a write is under way goes out in the next one. A request
// then never waits on its log line's write(2), however slow the log pipe,
// and under load one write carries many lines. Writes past 1 MiB of
// backlog wait, so no line is dropped.
type BatchWriter struct {
	w    io.Writer
	mu   sync.Mutex
	cond *sync.Cond
	// buf gathers the writes; the flusher swaps it with spare.
	buf, spare []byte
	closed     bool
	err        error
	done       chan struct{}
}

// NewBatchWriter starts writing to w. Close flushes and stops it.
func NewBatchWriter(w io.Writer) *BatchWriter {
	b := &BatchWriter{w: w, done: make(chan struct{})}
	b.cond = sync.NewCond(&b.mu)
	go b.flush()
	return b
}

// Write queues p. It fails only after an earlier write to the underlying
// writer failed, or after Close.
func (b *BatchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.buf) > maxBatch && b.err == nil && !b.closed {
		b.cond.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.closed {
		return 0, io.ErrClosedPipe
	}
	b.buf = append(b.buf, p...)
	b.cond.Broadcast()
	return len(p), nil
}

// Close writes what is queued and stops the writer.
func (b *BatchWriter) Close() error {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
	<-b.done
	return b.err
}

func (b *BatchWriter) flush() {
	defer close(b.done)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for len(b.buf) == 0 && !b.closed {
			b.cond.Wait()
		}
		if len(b.buf) == 0 && b.closed {
			return
		}
		out := b.buf
		b.buf, b.spare = b.spare[:0], nil
		b.mu.Unlock()
		_, err := b.w.Write(out)
		b.mu.Lock()
		b.spare = out[:0]
		if err != nil && b.err == nil {
			b.err = err
		}
		// Writers waiting for room.
		b.cond.Broadcast()
		if b.err != nil {
			return
		}
	}
}
