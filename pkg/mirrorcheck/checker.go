package mirrorcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/pkg/registry"
)

// Header resolves images; *registry.Prober is one. An image the registry
// does not hold is an error that wraps registry.ErrNotFound.
type Header interface {
	Head(ctx context.Context, image string) (*v1.Descriptor, error)
}

// State is what a check found.
type State uint8

// The states of an answer.
const (
	// Unknown: not answered yet.
	Unknown State = iota
	// Present: the registry holds the image.
	Present
	// Missing: the registry answered that it does not hold the image.
	Missing
	// Failed: the registry could not be asked, or answered neither (a
	// timeout, 5xx, 401 or 403), or no answer came in time.
	Failed
)

func (s State) String() string {
	switch s {
	case Present:
		return "present"
	case Missing:
		return "missing"
	case Failed:
		return "error"
	}
	return "unknown"
}

// Result is the answer about one image.
type Result struct {
	State State
	// Reason says why a check failed, at most maxReason bytes.
	Reason string
	// Cached reports that the answer came from the cache.
	Cached bool
}

// Defaults, for the flags of kmirror serve and the Options left zero.
const (
	DefaultTimeout    = time.Second
	DefaultPresentTTL = 10 * time.Minute
	DefaultMissingTTL = 30 * time.Second
	// DefaultFailedTTL is how long a failed check is remembered: long
	// enough that a registry that is down costs one Pod in a while its
	// time limit, short enough that a blip is soon forgotten.
	DefaultFailedTTL = 5 * time.Second
	// A cached answer is some 250 bytes: 10,000 of them are 2.5 MB.
	DefaultMaxEntries = 10_000
	DefaultMaxBytes   = 4 << 20
	// DefaultMaxRequests bounds the HEAD requests in flight.
	DefaultMaxRequests = 16
	// DefaultMaxPending bounds the checks in flight or waiting for a
	// request: each is a goroutine and a few strings.
	DefaultMaxPending = 1024
)

// maxReason bounds the reason of a failed check kept in the cache: the
// registry chooses what its errors say.
const maxReason = 256

// Options configure a Checker.
type Options struct {
	// Timeout bounds each check, the wait for a request slot included;
	// zero is DefaultTimeout.
	Timeout time.Duration
	// PresentTTL, MissingTTL and FailedTTL are how long each answer is
	// cached; zero or less caches none.
	PresentTTL, MissingTTL, FailedTTL time.Duration
	// MaxEntries and MaxBytes bound the cache; zero is the default.
	MaxEntries, MaxBytes int
	// MaxRequests bounds the requests in flight, MaxPending the checks in
	// flight or waiting; zero is the default.
	MaxRequests, MaxPending int
	// Metrics, when set, counts the checks.
	Metrics *Metrics
}

// Checker answers whether images exist, from its cache or with a HEAD
// request. It is safe for concurrent use.
type Checker struct {
	h   Header
	o   Options
	now func() time.Time
	// requests holds a token per request in flight.
	requests chan struct{}

	mu      sync.Mutex
	cache   *cache
	flights map[string]*flight
}

// flight is a check in progress, which callers of the same image share.
type flight struct {
	done chan struct{}
	// res is set before done is closed.
	res Result
}

// New returns a Checker that asks h.
func New(h Header, o Options) *Checker {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = DefaultMaxRequests
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	c := &Checker{h: h, o: o, now: time.Now, requests: make(chan struct{}, o.MaxRequests),
		cache: newCache(o.MaxEntries, o.MaxBytes), flights: map[string]*flight{}}
	o.Metrics.watch(c)
	return c
}

// Check writes into out, for each image, what is known of it: the cached
// answer, or Unknown. For each image not known, it starts a check, or
// joins the one in flight, and returns a function that waits for them
// until ctx ends and writes their answers into out; an answer that does
// not come in time is Failed. It returns nil when every answer was known.
// out must be as long as images.
func (c *Checker) Check(images []string, out []Result) (wait func(context.Context)) {
	var (
		waiting []int
		flights []*flight
		start   []string
		hits    int
	)
	now := c.now()
	c.mu.Lock()
	for i, img := range images {
		if r, ok := c.cache.get(img, now); ok {
			r.Cached = true
			out[i] = r
			hits++
			continue
		}
		f := c.flights[img]
		if f == nil {
			if len(c.flights) >= c.o.MaxPending {
				out[i] = Result{State: Failed, Reason: fmt.Sprintf("%d checks of the mirror are in flight already", c.o.MaxPending)}
				continue
			}
			img = strings.Clone(img)
			f = &flight{done: make(chan struct{})}
			c.flights[img] = f
			start = append(start, img)
		}
		out[i] = Result{}
		waiting = append(waiting, i)
		flights = append(flights, f)
	}
	for _, img := range start {
		go c.run(img, c.flights[img], now)
	}
	c.mu.Unlock()
	c.o.Metrics.lookedUp(hits, len(images)-hits)
	if len(waiting) == 0 {
		return nil
	}
	return func(ctx context.Context) {
		for j, i := range waiting {
			select {
			case <-flights[j].done:
				out[i] = flights[j].res
				continue
			default:
			}
			select {
			case <-flights[j].done:
				out[i] = flights[j].res
			case <-ctx.Done():
				out[i] = Result{State: Failed, Reason: "no answer within the review's time budget"}
			}
		}
	}
}

// run checks img and answers f.
func (c *Checker) run(img string, f *flight, started time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	t := time.Now()
	var res Result
	select {
	case c.requests <- struct{}{}:
		_, err := c.h.Head(ctx, img)
		<-c.requests
		res = c.classify(ctx, err)
	case <-ctx.Done():
		res = Result{State: Failed, Reason: fmt.Sprintf("%d requests to the mirror were in flight for %s", c.o.MaxRequests, c.o.Timeout)}
	}
	c.o.Metrics.checked(res.State, time.Since(t))
	c.mu.Lock()
	delete(c.flights, img)
	// An answer found while this check ran (a copy that completed) is
	// newer than this one.
	if set := c.cache.setAt(img); set.IsZero() || set.Before(started) {
		c.cache.put(img, res, c.now(), c.ttl(res.State))
	}
	c.mu.Unlock()
	f.res = res
	close(f.done)
}

// classify turns what Head returned into an answer.
func (c *Checker) classify(ctx context.Context, err error) Result {
	switch {
	case err == nil:
		return Result{State: Present}
	case errors.Is(err, registry.ErrNotFound):
		return Result{State: Missing}
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return Result{State: Failed, Reason: fmt.Sprintf("no answer from the registry within %s", c.o.Timeout)}
	}
	// The image is said by whoever reports the failure: the cause is
	// enough, but for a refusal, whose message says what to check.
	var re *registry.Error
	if errors.As(err, &re) && re.Kind == nil {
		err = re.Err
	}
	return Result{State: Failed, Reason: clip(err.Error(), maxReason)}
}

func (c *Checker) ttl(s State) time.Duration {
	switch s {
	case Present:
		return c.o.PresentTTL
	case Missing:
		return c.o.MissingTTL
	}
	return c.o.FailedTTL
}

// SetPresent records that the mirror holds image now, as a copy that
// completed found.
func (c *Checker) SetPresent(image string) {
	image = strings.Clone(image)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cache.put(image, Result{State: Present}, c.now(), c.o.PresentTTL)
}

// entries is how many answers are cached.
func (c *Checker) entries() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cache.len()
}

// clip cuts s to at most max bytes, at a character boundary, with an
// ellipsis.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
