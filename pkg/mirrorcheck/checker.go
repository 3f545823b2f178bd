package mirrorcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/maypok86/otter/v2"

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
	// DefaultMaxBytes bounds the cache: some 16,000 answers.
	DefaultMaxBytes = 4 << 20
	// DefaultMaxRequests bounds the HEAD requests in flight.
	DefaultMaxRequests = 16
	// DefaultMaxPending bounds the checks in flight or waiting for a
	// request: each is a goroutine and a few strings.
	DefaultMaxPending = 1024
	// DefaultMaxReviewChecks bounds the checks one call of Check waits
	// for: a Pod names a few images, and one that names hundreds new to
	// the cache takes no more of the pending checks than a few Pods.
	DefaultMaxReviewChecks = 8
)

// maxReason bounds the reason of a failed check kept in the cache: the
// registry chooses what its errors say.
const maxReason = 256

// entryOverhead is what a cached answer costs besides its strings: the
// cache's node and its share of the frequency sketch.
const entryOverhead = 160

// typicalEntry is what a typical answer weighs, with an image of some 90
// bytes.
const typicalEntry = 256

// Options configure a Checker.
type Options struct {
	// Timeout bounds each check, the wait for a request slot included;
	// zero is DefaultTimeout.
	Timeout time.Duration
	// PresentTTL, MissingTTL and FailedTTL are how long each answer is
	// cached; zero or less caches none.
	PresentTTL, MissingTTL, FailedTTL time.Duration
	// MaxBytes bounds the cache; zero is the default.
	MaxBytes int
	// MaxRequests bounds the requests in flight, MaxPending the checks in
	// flight or waiting, and MaxReviewChecks those that one call of Check
	// waits for; zero is the default.
	MaxRequests, MaxPending, MaxReviewChecks int
	// Metrics, when set, counts the checks.
	Metrics *Metrics
}

// Checker answers whether images exist, from its cache or with a HEAD
// request. It is safe for concurrent use.
type Checker struct {
	h Header
	o Options
	// answers caches the answers, and shares a check among its callers.
	answers *otter.Cache[string, Result]
	load    otter.Loader[string, Result]
	// requests holds a token per request in flight.
	requests chan struct{}
	// pending counts the checks that callers wait for.
	pending atomic.Int64
}

// waiter is an image that one call of Check waits for.
type waiter struct {
	image string
	// at are the indexes of the image in the call's images.
	at   []int
	done chan struct{}
	// res is set before done is closed.
	res Result
}

// New returns a Checker that asks h.
func New(h Header, o Options) *Checker { return newChecker(h, o, nil) }

// newChecker is New with the cache's clock; nil is the system's.
func newChecker(h Header, o Options, clock otter.Clock) *Checker {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
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
	if o.MaxReviewChecks <= 0 {
		o.MaxReviewChecks = DefaultMaxReviewChecks
	}
	c := &Checker{h: h, o: o, requests: make(chan struct{}, o.MaxRequests)}
	c.load = otter.LoaderFunc[string, Result](c.head)
	c.answers = otter.Must(&otter.Options[string, Result]{
		MaximumWeight: uint64(o.MaxBytes),
		// Sized from the start, the frequency sketch counts the first
		// answers too: otherwise it starts once the cache is half full,
		// and the images checked before are as cold as a flood's.
		InitialCapacity: o.MaxBytes / typicalEntry,
		Weigher: func(image string, r Result) uint32 {
			return uint32(entryOverhead + len(image) + len(r.Reason))
		},
		// otter reads a duration of zero as no expiry: a TTL of zero
		// keeps the answer for a nanosecond instead, nothing in effect.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, Result]) time.Duration {
			return max(c.ttl(e.Value.State), time.Nanosecond)
		}),
		Clock: clock,
	})
	o.Metrics.watch(c)
	return c
}

// Check writes into out, for each image, what is known of it: the cached
// answer, or Unknown. For each image not known, it starts a check, or
// joins the one in flight, and returns a function that waits for them
// until ctx ends and writes their answers into out; an answer that does
// not come in time is Failed. It returns nil when every answer was known.
// out must be as long as images.
//
// A call waits for at most MaxReviewChecks checks, so that one review of
// many new images does not take the pending checks and request slots of
// all the others; its other new images are Failed at once, and checked
// for later calls.
func (c *Checker) Check(images []string, out []Result) (wait func(context.Context)) {
	var checks []*waiter
	hits := 0
	for i, img := range images {
		if r, ok := c.answers.GetIfPresent(img); ok {
			r.Cached = true
			out[i] = r
			hits++
			continue
		}
		out[i] = Result{}
		if ck := waitingFor(checks, img); ck != nil {
			ck.at = append(ck.at, i)
			continue
		}
		if len(checks) == c.o.MaxReviewChecks {
			out[i] = Result{State: Failed, Reason: fmt.Sprintf("the review names more than %d images not checked yet; the first %[1]d are checked now", c.o.MaxReviewChecks)}
			continue
		}
		if c.pending.Add(1) > int64(c.o.MaxPending) {
			c.pending.Add(-1)
			out[i] = Result{State: Failed, Reason: fmt.Sprintf("%d checks of the mirror are in flight already", c.o.MaxPending)}
			continue
		}
		ck := &waiter{image: strings.Clone(img), at: []int{i}, done: make(chan struct{})}
		checks = append(checks, ck)
	}
	// Started once every image is looked up, so that an answer that comes
	// meanwhile does not make a hit of a repeated image.
	for _, ck := range checks {
		go c.run(ck)
	}
	c.o.Metrics.lookedUp(hits, len(images)-hits)
	if len(checks) == 0 {
		return nil
	}
	return func(ctx context.Context) {
		for _, ck := range checks {
			res := Result{State: Failed, Reason: "no answer within the review's time budget"}
			select {
			case <-ck.done:
				res = ck.res
			default:
				select {
				case <-ck.done:
					res = ck.res
				case <-ctx.Done():
				}
			}
			for _, i := range ck.at {
				out[i] = res
			}
		}
	}
}

// waitingFor returns the check of img among checks, or nil.
func waitingFor(checks []*waiter, img string) *waiter {
	for _, ck := range checks {
		if ck.image == img {
			return ck
		}
	}
	return nil
}

// run gets the answer of ck, from the check of its image in flight or a
// new one. The check goes on when its callers stop waiting, to its own
// time limit, so that its answer is cached for the next caller.
func (c *Checker) run(ck *waiter) {
	defer c.pending.Add(-1)
	// Get fails only for its context, which never ends, or for the
	// loader's error, which head never returns.
	ck.res, _ = c.answers.Get(context.Background(), ck.image, c.load)
	close(ck.done)
}

// head checks img, within the time limit. A copy that completes while it
// runs (SetPresent) makes the cache keep the newer answer.
func (c *Checker) head(ctx context.Context, img string) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
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
	return res, nil
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
// completed found. A check of image in flight answers present too.
func (c *Checker) SetPresent(image string) {
	c.answers.Set(strings.Clone(image), Result{State: Present})
}

// entries is how many answers are cached.
func (c *Checker) entries() int { return c.answers.EstimatedSize() }

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
