package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"kmirror.dev/kmirror/pkg/manifest"
)

// The limits of one review. Whoever may create Pods chooses what the API
// server sends, up to its own limit of 3 MiB an object: a Pod whose args
// are a million empty strings is 3 MiB of JSON and 150 MB of parsed tree.
// A review over a limit is answered with status 413 and not decided; the
// API server then applies the webhook's failure policy, which with
// failurePolicy Ignore admits the Pod unchanged. A Pod as the API server
// sends it is a few hundred values and a dozen levels deep.
const (
	// MaxBodyBytes bounds a request body. A review holds the object and,
	// on UPDATE, the old object.
	MaxBodyBytes = 7 << 20
	// MaxValues bounds the JSON values of a review, objects, arrays,
	// keys and scalars, old object included.
	MaxValues = 100_000
	// MaxDepth bounds the nesting of objects and arrays in a review.
	MaxDepth = 32
	// MaxImages bounds the keys named "image" in an object, and so its
	// image fields.
	MaxImages = 1000
	// MaxPathBytes bounds the path to an image field, as a log line
	// writes it: "spec.containers[0].image" is 24 bytes.
	MaxPathBytes = 256
)

// ErrTooLarge is wrapped by the errors of a review over a limit.
var ErrTooLarge = errors.New("the review is over kmirror's limits")

// The memory of the reviews in flight is bounded too: each review reserves
// what it may hold before its body is read, from the length it declares,
// and gives back what it does not need once it is parsed. A review that
// finds no room waits, while smaller ones that fit go ahead; after
// WaitTimeout it is answered 503, and the API server applies the failure
// policy.
const (
	// DefaultInFlightBytes is the memory the reviews in flight may hold,
	// when the Handler does not say.
	DefaultInFlightBytes = 64 << 20
	// DefaultWaitTimeout is how long a review waits for room.
	DefaultWaitTimeout = 2 * time.Second
)

// MemoryLimit is the soft memory limit kmirror serve runs with unless
// GOMEMLIMIT says otherwise, and the one the Deployment of `kmirror
// manifests` sets: the budget of the reviews in flight, and room for the
// garbage they leave, with the peak RSS under 200 MB. The collector works
// harder as the heap nears it.
const MemoryLimit = 128 << 20

// The estimate of what a review holds, from above: a fixed part, the body
// and its copy in the parse, a node per JSON value, and the work and
// answer for each image field. TestReviewCostBoundsTheMemory holds the
// estimate above what reviews of every hostile shape hold at once.
const (
	costFixed    = 256 << 10
	costPerValue = 320
	costPerImage = 8 << 10
)

// reviewCost estimates what a review of n bytes, with at most values JSON
// values and images keys named image, holds while it is answered.
func reviewCost(n, values, images int64) int64 {
	return costFixed + 2*n + min(values, MaxValues)*costPerValue + min(images, 2*MaxImages)*costPerImage
}

// worstCost is the cost of a review of n bytes that nothing is known of
// but its length: a JSON value takes at least 2 bytes ("0,"), an image
// field 14 (`{"image":"a"},`).
func worstCost(n int64) int64 {
	return reviewCost(n, n/2+1, n/14+1)
}

// budget bounds the memory of the reviews in flight. It is not a queue: a
// review that fits goes ahead of larger ones that wait, so that a stream
// of reviews as large as allowed does not hold up the Pods of everyone
// else; the larger ones wait for room, and get 503 if none comes in time.
type budget struct {
	mu   sync.Mutex
	free int64
	// waiting counts the reviews that wait for room; freed is closed,
	// and replaced, when memory is given back while some wait.
	waiting int
	freed   chan struct{}
	wait    time.Duration
}

func newBudget(size int64, wait time.Duration) *budget {
	if size <= 0 {
		size = DefaultInFlightBytes
	}
	// A review of the largest size must fit alone.
	size = max(size, worstCost(MaxBodyBytes))
	if wait <= 0 {
		wait = DefaultWaitTimeout
	}
	return &budget{free: size, freed: make(chan struct{}), wait: wait}
}

// errBusy is a review that found no room in the budget in time.
var errBusy = errors.New("kmirror is busy: the reviews in flight hold its memory budget; try again")

// reserve waits for n bytes of the budget, at most b.wait, and returns the
// reservation.
func (b *budget) reserve(ctx context.Context, n int64) (reservation, error) {
	if b.take(n) {
		return reservation{b: b, n: n}, nil
	}
	timeout := time.NewTimer(b.wait)
	defer timeout.Stop()
	for {
		b.mu.Lock()
		if n <= b.free {
			b.free -= n
			b.mu.Unlock()
			return reservation{b: b, n: n}, nil
		}
		b.waiting++
		freed := b.freed
		b.mu.Unlock()
		var err error
		select {
		case <-freed:
		case <-timeout.C:
			err = errBusy
		case <-ctx.Done():
			err = errBusy
		}
		b.mu.Lock()
		b.waiting--
		b.mu.Unlock()
		if err != nil {
			return reservation{}, err
		}
	}
}

// take takes n bytes when they are free.
func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.free {
		return false
	}
	b.free -= n
	return true
}

// give gives n bytes back, and wakes the reviews that wait.
func (b *budget) give(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	if b.waiting > 0 {
		close(b.freed)
		b.freed = make(chan struct{})
	}
}

// reservation is the part of a budget one review holds.
type reservation struct {
	b *budget
	n int64
}

// shrink gives back what is over n.
func (r *reservation) shrink(n int64) {
	if n < r.n {
		r.b.give(r.n - n)
		r.n = n
	}
}

func (r *reservation) release() { r.shrink(0) }

// pathLen is len(p.String()), counted without making the string.
func pathLen(p manifest.Path) int {
	n := 0
	for i, e := range p {
		switch {
		case e.Key == "":
			n += len("[]") + len(strconv.Itoa(e.Index))
		case i > 0:
			n += 1 + len(e.Key)
		default:
			n += len(e.Key)
		}
	}
	return n
}

// imagesBound bounds the keys named image of body from above: each is
// written "image", or with an escape.
func imagesBound(body []byte) int64 {
	return int64(bytes.Count(body, []byte(`"image"`)) + bytes.Count(body, []byte(`\`)))
}

// imageKeys counts the keys named image in the tree n.
func imageKeys(n *yaml.Node) int64 {
	var count int64
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && c.Value == "image" {
			count++
		}
		count += imageKeys(c)
	}
	return count
}

// checkImages refuses an object with more than MaxImages keys named
// "image", before the walk makes a field of each. what names the object.
func checkImages(n *yaml.Node, what string) error {
	if images := imageKeys(n); images > MaxImages {
		return fmt.Errorf("%w: the %s has %d keys named image, more than %d", ErrTooLarge, what, images, MaxImages)
	}
	return nil
}

// checkPaths refuses image fields at paths longer than MaxPathBytes: each
// is repeated in the patch, the log line and the keys that match
// containers across objects.
func checkPaths(fields []manifest.Field, what string) error {
	for _, f := range fields {
		if pathLen(f.Path) > MaxPathBytes {
			return fmt.Errorf("%w: the %s has an image field at a path longer than %d bytes: %s", ErrTooLarge, what, MaxPathBytes, clip(f.Path.String(), maxEcho))
		}
	}
	return nil
}
