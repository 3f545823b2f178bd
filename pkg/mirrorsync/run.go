package mirrorsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/pkg/registry"
)

// Copier copies images; *registry.Client is one.
type Copier interface {
	Check(ctx context.Context, src, dst string, platforms []v1.Platform) (registry.State, error)
	Copy(ctx context.Context, src, dst string, o registry.CopyOptions) (registry.CopyResult, error)
	Head(ctx context.Context, image string) (*v1.Descriptor, error)
}

var _ Copier = (*registry.Client)(nil)

// Status is what became of a pair.
type Status string

// The statuses, as reports name them.
const (
	Copied    Status = "copied"
	Present   Status = "present"
	WouldCopy Status = "would copy"
	Failed    Status = "failed"
	// Interrupted: the run was cut short (Ctrl-C, SIGTERM) before the
	// pair was done, or while it was being copied.
	Interrupted Status = "interrupted"
)

// Result is what became of one pair.
type Result struct {
	Pair
	Status Status
	// Digest is the digest of the source (for a platform subset, of the
	// index made from it in the mirror), when known.
	Digest string
	// Bytes counts the bytes sent to the mirror.
	Bytes int64
	// DigestOnly reports that a "repo:tag@digest" source was copied by its
	// digest alone: the source's tag names another digest now, so the
	// mirror's tag was left as it was (see registry.Client.Copy).
	DigestOnly bool
	// Err says why a pair failed or was interrupted.
	Err      error
	Duration time.Duration
	// Referrers counts the artifacts attached to the image, with
	// Options.Referrers.
	Referrers registry.ReferrerCount
}

// Observer hears of a run as it goes, from several goroutines at once.
type Observer interface {
	// Started is called when a pair is taken up.
	Started(p Pair)
	// Progress is called as bytes of p go into the mirror; see
	// registry.CopyOptions.Progress.
	Progress(p Pair, complete, total int64)
	// Done is called when a pair is finished, whatever became of it.
	Done(r Result)
}

// Options change how Run runs.
type Options struct {
	// Jobs is how many pairs are handled at once; zero is 4.
	Jobs int
	// DryRun checks every pair and copies nothing.
	DryRun bool
	// Platforms, when set, copies only these platforms of each index.
	Platforms []v1.Platform
	// Observer, when set, hears of each pair.
	Observer Observer
	// CopyTimeout bounds each pair, its checks and copy together; zero is
	// DefaultCopyTimeout.
	CopyTimeout time.Duration
	// Referrers also copies the signatures, attestations and SBOMs
	// attached to each image (registry.CopyOptions.Referrers).
	Referrers bool
}

// DefaultCopyTimeout bounds a pair when Options do not say.
const DefaultCopyTimeout = 10 * time.Minute

// Run handles every pair, Jobs at a time, and returns their results in
// the order of pairs. A pair that fails does not stop the others; when ctx
// ends, pairs not yet done are Interrupted.
//
// Before copying, pairs that write one target reference from sources of
// different digests fail with a ConflictError, and are not copied.
func Run(ctx context.Context, c Copier, pairs []Pair, o Options) []Result {
	jobs := o.Jobs
	if jobs <= 0 {
		jobs = 4
	}
	results := make([]Result, len(pairs))
	refused := conflicts(ctx, c, pairs)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(jobs, len(pairs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					results[i] = Result{Pair: pairs[i], Status: Interrupted, Err: ctx.Err()}
					continue
				}
				results[i] = runPair(ctx, c, pairs[i], o)
			}
		}()
	}
	for i := range pairs {
		switch {
		case ctx.Err() != nil:
			results[i] = Result{Pair: pairs[i], Status: Interrupted, Err: ctx.Err()}
		case refused[i] != nil:
			results[i] = Result{Pair: pairs[i], Status: Failed, Err: refused[i]}
			if o.Observer != nil {
				o.Observer.Done(results[i])
			}
		default:
			next <- i
		}
	}
	close(next)
	wg.Wait()
	return results
}

func runPair(ctx context.Context, c Copier, p Pair, o Options) Result {
	if o.Observer != nil {
		o.Observer.Started(p)
	}
	start := time.Now()
	timeout := cmp.Or(o.CopyTimeout, DefaultCopyTimeout)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	r := handle(pctx, c, p, o)
	cancel()
	if errors.Is(r.Err, context.DeadlineExceeded) && ctx.Err() == nil {
		r.Err = fmt.Errorf("copying %s to %s: not done within the copy timeout of %v: %w", p.Source, p.Target, timeout, r.Err)
	}
	r.Pair, r.Duration = p, time.Since(start)
	switch {
	case r.Err != nil && errors.Is(r.Err, context.Canceled) && ctx.Err() != nil:
		r.Status = Interrupted
	case r.Err != nil:
		r.Status = Failed
	}
	if o.Observer != nil {
		o.Observer.Done(r)
	}
	return r
}

func handle(ctx context.Context, c Copier, p Pair, o Options) Result {
	if o.DryRun {
		st, err := c.Check(ctx, p.Source, p.Target, o.Platforms)
		switch {
		case err != nil:
			return Result{Err: err}
		case st.Present:
			return Result{Status: Present, Digest: st.Target}
		case pinned(p.Source):
			// Check asked only the mirror; a dry run also asks the source.
			if _, err := c.Head(ctx, p.Source); err != nil {
				return Result{Err: err}
			}
		}
		return Result{Status: WouldCopy, Digest: st.Source}
	}
	var progress func(complete, total int64)
	if o.Observer != nil {
		progress = func(complete, total int64) { o.Observer.Progress(p, complete, total) }
	}
	res, err := c.Copy(ctx, p.Source, p.Target, registry.CopyOptions{Platforms: o.Platforms, Progress: progress, Referrers: o.Referrers})
	r := Result{Status: Present, Digest: res.Digest, Bytes: res.Bytes, DigestOnly: res.DigestOnly, Err: err, Referrers: res.Referrers}
	if res.Copied {
		r.Status = Copied
	}
	return r
}

func pinned(image string) bool { return strings.Contains(image, "@") }

// Summary counts the results of a run, each pair under one status.
type Summary struct {
	Copied    int `json:"copied"`
	Present   int `json:"present"`
	WouldCopy int `json:"wouldCopy"`
	Failed    int `json:"failed"`
	// DigestOnly counts the copied pairs whose tag was not written.
	DigestOnly int `json:"digestOnly"`
	// Interrupted counts the pairs that the end of the run cut short; they
	// did not fail, and the next run does them.
	Interrupted int `json:"interrupted"`
	// Bytes counts the bytes the copies that succeeded sent.
	Bytes int64 `json:"bytes"`
	// Referrers counts the artifacts attached to the images.
	Referrers registry.ReferrerCount `json:"referrers"`
}

// Summarize counts results.
func Summarize(results []Result) Summary {
	var s Summary
	for _, r := range results {
		s.add(r.Status, r.Bytes, r.DigestOnly)
		s.Referrers.Add(r.Referrers)
	}
	return s
}

func (s *Summary) add(st Status, bytes int64, digestOnly bool) {
	switch st {
	case Copied:
		s.Copied++
		s.Bytes += bytes
		if digestOnly {
			s.DigestOnly++
		}
	case Present:
		s.Present++
	case WouldCopy:
		s.WouldCopy++
	case Failed:
		s.Failed++
	case Interrupted:
		s.Interrupted++
	}
}
