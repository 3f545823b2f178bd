package admission

import (
	"context"
	"fmt"
	"time"

	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/mirrorcheck"
	"kmirror.dev/kmirror/pkg/mirrorsync"
)

// MirrorChecker says whether the mirror holds images; *mirrorcheck.Checker
// is one. Check writes into out what it knows of each image, and returns
// a function that waits, until its context ends, for the answers it did
// not know, or nil when it knew them all.
type MirrorChecker interface {
	Check(images []string, out []mirrorcheck.Result) (wait func(context.Context))
}

// CopyQueue copies images into the mirror in the background;
// *mirrorsync.Queue is one. Enqueue must not wait.
type CopyQueue interface {
	Enqueue(p mirrorsync.Pair) bool
}

// OnCheckError says where an image goes when the mirror could not be
// checked.
type OnCheckError string

// The choices of --on-check-error.
const (
	// FromSource leaves the image as written: the Pod pulls it from its
	// source, which works if the cluster can reach the source.
	FromSource OnCheckError = "source"
	// ToMirror sends it to the mirror all the same, as --swap-policy
	// always does: the Pod fails to pull if the mirror lacks it.
	ToMirror OnCheckError = "mirror"
)

// DefaultReviewBudget bounds a review, from its arrival to its answer, when
// Swap does not say: well inside the timeoutSeconds of 3 that `kmirror
// manifests` gives the webhook.
const DefaultReviewBudget = 2 * time.Second

// Swap is the step after the decision that --swap-policy exists adds: an
// image that the engine sends to the mirror goes there only when the
// mirror holds it. The decision itself (the walk, the engine, the
// decisions remembered) is the same as without it, and as the CLI's.
type Swap struct {
	// Mirror answers whether the mirror holds an image.
	Mirror MirrorChecker
	// Copies, when set, is given each image the mirror lacks, with its
	// source (--copy-missing). A dry run queues nothing.
	Copies CopyQueue
	// OnError says where an image goes when the mirror could not be
	// checked; "" is FromSource.
	OnError OnCheckError
	// Budget bounds a review from its arrival to its answer: answers not
	// in by then count as failed checks. Zero is DefaultReviewBudget.
	Budget time.Duration
}

// checks are the images of one mutation that the swap step asks about.
type checks struct {
	// at are the indexes in Mutation.Images of the images asked about,
	// images their mirror images, out the answers.
	at     []int
	images []string
	out    []mirrorcheck.Result
}

// ask asks the mirror about each image of mut that the engine mirrors. It
// returns the wait for the answers not known yet, or nil.
func (s *Swap) ask(mut *Mutation) (*checks, func(context.Context)) {
	c := &checks{}
	for i := range mut.Images {
		if img := &mut.Images[i]; img.Kept == Decided && img.Decision.Action == mirror.Mirrored && img.op > 0 {
			if c.at == nil {
				c.at, c.images = make([]int, 0, len(mut.Images)-i), make([]string, 0, len(mut.Images)-i)
			}
			c.at = append(c.at, i)
			c.images = append(c.images, img.Decision.Result)
		}
	}
	if len(c.at) == 0 {
		return c, nil
	}
	c.out = make([]mirrorcheck.Result, len(c.at))
	return c, s.Mirror.Check(c.images, c.out)
}

// apply leaves as written each image of mut that the mirror lacks, or, by
// OnError, that could not be checked, with a warning for the user; an
// image the mirror lacks is queued for copying unless dryRun.
func (s *Swap) apply(mut *Mutation, c *checks, dryRun bool) {
	var said map[string]bool
	warn := func(w string) {
		if said == nil {
			said = map[string]bool{}
		}
		if !said[w] {
			said[w] = true
			mut.Warnings = append(mut.Warnings, clipMessage(w))
		}
	}
	for j, i := range c.at {
		img := &mut.Images[i]
		target, source := img.Decision.Result, img.Decision.Image
		switch res := c.out[j]; res.State {
		case mirrorcheck.Present:
		case mirrorcheck.Missing:
			mut.unmirror(i, NotInMirror)
			warn(fmt.Sprintf("kmirror: %s is not in the mirror yet; %s is pulled from its source", clip(target, maxEcho), clip(source, maxEcho)))
			if s.Copies != nil && !dryRun {
				s.Copies.Enqueue(mirrorsync.Pair{Source: source, Target: target})
			}
		default:
			if s.OnError == ToMirror {
				warn(fmt.Sprintf("kmirror: cannot check that %s is in the mirror (%s); it is pulled from the mirror all the same (--on-check-error=mirror)", clip(target, maxEcho), res.Reason))
				continue
			}
			mut.unmirror(i, NotChecked)
			warn(fmt.Sprintf("kmirror: cannot check that %s is in the mirror (%s); %s is pulled from its source (--on-check-error=source)", clip(target, maxEcho), res.Reason, clip(source, maxEcho)))
		}
	}
	if said != nil {
		mut.dropOps()
		mut.trimWarnings()
	}
}

// budget returns the review budget.
func (s *Swap) budget() time.Duration {
	if s.Budget > 0 {
		return s.Budget
	}
	return DefaultReviewBudget
}

// waitCost estimates, from above, what a review holds while it waits for
// the mirror's answers, once its tree is given back: the body, whose
// strings the mutation shares, and the mutation.
func waitCost(size int, mut *Mutation) int64 {
	return 16<<10 + int64(size) + int64(len(mut.Images)+len(mut.ops)+len(mut.Warnings))*(2<<10)
}
