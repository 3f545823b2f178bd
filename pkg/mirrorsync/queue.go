package mirrorsync

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"kmirror.dev/kmirror/pkg/registry"
)

// Queue copies pairs in the background, for the webhook's --copy-missing:
// each pair once however often it is asked for, a few at a time, from a
// queue of bounded length, and a pair that fails is tried again later.
// A pair given up (its attempts spent, or its source not found) is held:
// it is not queued again for a while, which doubles each time it is given
// up again, however many reviews ask for it. A copy is the one Run makes:
// the whole index, every digest the source's, the tag last, within the
// copy timeout. Enqueue never waits, so that asking for a copy costs a
// review nothing.
type Queue struct {
	c      Copier
	o      QueueOptions
	ctx    context.Context
	cancel context.CancelFunc
	work   chan Pair
	wg     sync.WaitGroup

	mu sync.Mutex
	// pending holds the pairs queued, being copied, or waiting to be tried
	// again, with the attempts made.
	pending map[Pair]int
	copying int
	retries map[Pair]*time.Timer
	// held are the pairs given up, at most Size of them.
	held   map[Pair]hold
	now    func() time.Time
	closed bool
	// dropLogged is when a pair that found the queue full was last
	// logged.
	dropLogged time.Time
}

// QueueOptions configure a Queue.
type QueueOptions struct {
	// Size bounds the pairs pending: queued, copying or waiting for a
	// retry; zero is 1000.
	Size int
	// Workers is how many pairs are copied at once; zero is 4.
	Workers int
	// Attempts is how many times a pair is tried in all; zero is 5.
	Attempts int
	// Backoff is the wait after the first failure, doubled after each
	// next one; zero is 10s.
	Backoff time.Duration
	// Hold is how long a pair given up is not queued again, doubled each
	// time it is given up again, up to MaxHold; zero is DefaultHold.
	Hold time.Duration
	// CopyTimeout bounds each attempt; zero is DefaultCopyTimeout.
	CopyTimeout time.Duration
	// Done, when set, is told of each pair done with: copied, present, or
	// failed for good. It is called from a worker.
	Done func(Result)
	// Log, when set, gets a line for each pair queued and done.
	Log *slog.Logger
	// Metrics, when set, counts the copies.
	Metrics *QueueMetrics
}

// The holds of a pair given up, unless QueueOptions say otherwise.
const (
	DefaultHold = time.Minute
	MaxHold     = time.Hour
)

// hold is a pair given up: not queued again before until; given up times
// in a row.
type hold struct {
	until time.Time
	times int
}

// NewQueue starts the workers of a queue that copies with c.
func NewQueue(c Copier, o QueueOptions) *Queue {
	if o.Size <= 0 {
		o.Size = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 10 * time.Second
	}
	if o.Hold <= 0 {
		o.Hold = DefaultHold
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{c: c, o: o, ctx: ctx, cancel: cancel,
		// Room for every pending pair: a send never blocks.
		work:    make(chan Pair, o.Size),
		pending: map[Pair]int{}, retries: map[Pair]*time.Timer{}, held: map[Pair]hold{}, now: time.Now}
	for range o.Workers {
		q.wg.Go(q.worker)
	}
	return q
}

// Enqueue asks for p to be copied, and reports whether it was queued: not
// when it is pending already, held after it was given up, the queue is
// full, or closed.
func (q *Queue) Enqueue(p Pair) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.pending[p]; ok || q.closed || q.now().Before(q.held[p].until) {
		return false
	}
	if len(q.pending) >= q.o.Size {
		q.o.Metrics.counted("dropped", 0)
		if now := time.Now(); now.Sub(q.dropLogged) > time.Minute {
			q.dropLogged = now
			q.o.Log.Warn("the copy queue is full; not copying", "source", clipText(p.Source), "target", clipText(p.Target), "size", q.o.Size)
		}
		return false
	}
	// The pair outlives the request it came from.
	p = Pair{Source: strings.Clone(p.Source), Target: strings.Clone(p.Target)}
	q.pending[p] = 0
	q.work <- p
	q.o.Metrics.depth(len(q.pending))
	q.o.Log.Info("queued a copy into the mirror", "source", clipText(p.Source), "target", clipText(p.Target))
	return true
}

func (q *Queue) worker() {
	for {
		select {
		case <-q.ctx.Done():
			return
		case p := <-q.work:
			q.mu.Lock()
			q.copying++
			q.mu.Unlock()
			// With what is attached to the image: a cluster that verifies
			// signatures verifies them where it pulls, in the mirror once
			// the webhook swaps to it.
			r := runPair(q.ctx, q.c, p, Options{CopyTimeout: q.o.CopyTimeout, Referrers: true})
			q.mu.Lock()
			q.copying--
			q.mu.Unlock()
			if q.ctx.Err() != nil {
				// Abandoned: Close counts it.
				return
			}
			q.finish(p, r)
		}
	}
}

// finish records what became of one attempt at p.
func (q *Queue) finish(p Pair, r Result) {
	log := q.o.Log.With("source", clipText(p.Source), "target", clipText(p.Target))
	q.mu.Lock()
	q.pending[p]++
	attempt := q.pending[p]
	retry := r.Err != nil && attempt < q.o.Attempts && !errors.Is(r.Err, registry.ErrNotFound)
	if retry && !q.closed {
		wait := q.o.Backoff << (attempt - 1)
		q.retries[p] = time.AfterFunc(wait, func() { q.again(p) })
		q.mu.Unlock()
		q.o.Metrics.counted("retried", 0)
		log.Warn("copy into the mirror failed; trying again", "error", clipText(r.Err.Error()), "attempt", attempt, "retryIn", wait)
		return
	}
	delete(q.pending, p)
	q.o.Metrics.depth(len(q.pending))
	var held time.Duration
	if r.Err != nil {
		held = q.hold(p)
	} else {
		delete(q.held, p)
	}
	q.mu.Unlock()
	switch {
	case r.Err != nil:
		q.o.Metrics.counted("failed", 0)
		log.Warn("copy into the mirror failed", "error", clipText(r.Err.Error()), "attempts", attempt, "notQueuedFor", held)
	case r.Status == Copied && r.DigestOnly:
		q.o.Metrics.counted("copied", r.Bytes)
		log.Info("copied into the mirror by digest; the tag is left as it was: the source's tag names another digest", "digest", r.Digest, "bytes", r.Bytes, "took", r.Duration)
	case r.Status == Copied:
		q.o.Metrics.counted("copied", r.Bytes)
		log.Info("copied into the mirror", "digest", r.Digest, "bytes", r.Bytes, "took", r.Duration)
	default:
		q.o.Metrics.counted("present", 0)
		log.Info("the mirror holds the image already", "digest", r.Digest)
	}
	if q.o.Done != nil {
		q.o.Done(r)
	}
}

// hold remembers that p was given up, and returns for how long it is not
// queued again. The holds are bounded by Size: a full set loses the ones
// that are over, else the one that ends first.
func (q *Queue) hold(p Pair) time.Duration {
	now := q.now()
	h, ok := q.held[p]
	if !ok && len(q.held) >= q.o.Size {
		q.dropHolds(now)
	}
	d := q.o.Hold
	for range h.times {
		d = min(2*d, MaxHold)
	}
	q.held[p] = hold{until: now.Add(d), times: h.times + 1}
	return d
}

// dropHolds drops the holds that are over, or, when none is, the one that
// ends first.
func (q *Queue) dropHolds(now time.Time) {
	var first Pair
	for p, h := range q.held {
		if !now.Before(h.until) {
			delete(q.held, p)
		} else if q.held[first].until.IsZero() || h.until.Before(q.held[first].until) {
			first = p
		}
	}
	if len(q.held) >= q.o.Size {
		delete(q.held, first)
	}
}

// again queues p for its next attempt.
func (q *Queue) again(p Pair) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.retries, p)
	if !q.closed {
		q.work <- p
	}
}

// Close stops the queue: copies in flight are abandoned (no tag names a
// half-copied image: the tag is written last), and pairs not yet copied
// are forgotten. It waits for the workers to return, and returns how many
// copies it abandoned and how many pairs it forgot.
func (q *Queue) Close() (abandoned, forgotten int) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0, 0
	}
	q.closed = true
	for p, t := range q.retries {
		t.Stop()
		delete(q.retries, p)
	}
	abandoned = q.copying
	forgotten = len(q.pending) - abandoned
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
	q.o.Metrics.abandoned(abandoned)
	return abandoned, forgotten
}

// clipText cuts what a log line repeats of a pair or an error: whoever
// creates Pods chooses the images.
func clipText(s string) string {
	const max = 512
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
