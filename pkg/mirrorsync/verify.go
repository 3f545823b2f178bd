package mirrorsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/registry"
)

// Header resolves images; *registry.Client is one.
type Header interface {
	Head(ctx context.Context, image string) (*v1.Descriptor, error)
}

// SubsetReader reads what a platform subset that "kmirror sync
// --platform" made records of its source; *registry.Client and
// *registry.Prober are ones. A Header that is one lets SameDigest accept
// such a subset, whose digest is not its source's.
type SubsetReader interface {
	SubsetSource(ctx context.Context, image string) (source, platforms string, err error)
}

// Verdict is what Verify found for one image field.
type Verdict string

// The verdicts, as reports name them.
const (
	Found Verdict = "present"
	// Missing: the registry answered that it does not hold the image.
	Missing Verdict = "missing"
	// Mismatch: with SameDigest, the mirror holds another digest than
	// the source.
	Mismatch Verdict = "digest mismatch"
	// NotPulled: the image is kept as written because its pull policy is
	// Never: the node must hold it already, and no registry is asked.
	NotPulled Verdict = "not pulled"
	// Unchecked: the registry could not be asked, or did not answer
	// "found" or "not found" (401, 403, timeouts), or the image is not a
	// valid reference.
	Unchecked Verdict = "error"
)

// Check is the verdict on one image field.
type Check struct {
	manifest.Location
	// Image is the image as written.
	Image string `json:"image"`
	// Pulled is the image the cluster pulls after the rules.
	Pulled  string  `json:"pulled"`
	Verdict Verdict `json:"status"`
	// Digest is the digest Pulled resolves to.
	Digest string `json:"digest,omitempty"`
	// Source and SourceDigest are the source compared with SameDigest.
	Source       string `json:"source,omitempty"`
	SourceDigest string `json:"sourceDigest,omitempty"`
	// Platforms, with SameDigest, are those of the source that Pulled
	// holds when it is a platform subset of it, made by "kmirror sync
	// --platform": it has a digest of its own, and records its source's.
	Platforms string `json:"platforms,omitempty"`
	// Error says why an image is Unchecked, or which registry said it is
	// missing.
	Error string `json:"error,omitempty"`
}

// VerifyOptions change how Verify checks.
type VerifyOptions struct {
	// Jobs is how many requests are in flight at once; zero is 8.
	Jobs int
	// Timeout bounds each request, retries included; zero is 30s.
	Timeout time.Duration
	// SameDigest also requires a mirrored image to have the digest of its
	// source. The source of an image that is already mirrored is found by
	// inverting the rules (mirror.Engine.Sources); when several sources
	// map to it, the digest of any one will do. A platform subset made by
	// "kmirror sync --platform" will do too, when the Header is a
	// SubsetReader: it records the digest of its source.
	SameDigest bool
	// Signatures, when set, also requires a mirrored image to hold the
	// signatures its source attaches to its digest (Unsigned).
	Signatures SignatureChecker
}

// Verify checks that the image each field will pull resolves in its
// registry, with HEAD requests, each distinct image once. eng is needed
// with SameDigest only, to find the source of an already mirrored image.
func Verify(ctx context.Context, h Header, fields []manifest.Image, eng *mirror.Engine, o VerifyOptions) []Check {
	checks := make([]Check, len(fields))
	sources := make([][]string, len(fields))
	heads := map[string]*answer{}
	want := func(img string) {
		if _, ok := heads[img]; !ok {
			heads[img] = &answer{}
		}
	}
	for i, f := range fields {
		checks[i] = Check{Location: f.Location, Image: f.Decision.Image, Pulled: f.Pulled()}
		switch f.Decision.Action {
		case mirror.Invalid:
			checks[i].Verdict, checks[i].Error = Unchecked, f.Decision.Err.Error()
			continue
		case mirror.Kept:
			checks[i].Verdict, checks[i].Error = NotPulled, f.Decision.Err.Error()
			continue
		}
		want(checks[i].Pulled)
		if o.SameDigest {
			sources[i] = sourcesOf(f, eng)
			for _, s := range sources[i] {
				want(s)
			}
		}
	}
	headAll(ctx, h, heads, o)
	for i := range checks {
		if checks[i].Verdict == "" {
			judge(&checks[i], heads, sources[i])
		}
	}
	if sr, ok := h.(SubsetReader); ok {
		acceptSubsets(ctx, sr, checks, sources, heads, o)
	}
	if o.Signatures != nil {
		checkSignatures(ctx, checks, fields, eng, o)
	}
	return checks
}

// acceptSubsets finds, among the images whose digest is not their
// source's, the platform subsets of their source, and finds them present.
// Each distinct image is read once, with a GET of its index.
func acceptSubsets(ctx context.Context, sr SubsetReader, checks []Check, sources [][]string, heads map[string]*answer, o VerifyOptions) {
	type subset struct {
		source, platforms string
		err               error
	}
	read := map[string]*subset{}
	for _, c := range checks {
		if c.Verdict == Mismatch {
			read[c.Pulled] = &subset{}
		}
	}
	if len(read) == 0 {
		return
	}
	jobs, timeout := o.withDefaults()
	g := new(errgroup.Group)
	g.SetLimit(jobs)
	for img, s := range read {
		g.Go(func() error {
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			s.source, s.platforms, s.err = sr.SubsetSource(rctx, img)
			return nil
		})
	}
	g.Wait()
	for i := range checks {
		c := &checks[i]
		s := read[c.Pulled]
		switch {
		case c.Verdict != Mismatch:
		case s.err != nil:
			c.Error += "; reading it to see whether it is a platform subset: " + s.err.Error()
		case s.source != "":
			for _, src := range sources[i] {
				if a := heads[src]; a.err == nil && a.digest == s.source {
					c.Verdict, c.Error, c.Source, c.SourceDigest, c.Platforms = Found, "", src, a.digest, s.platforms
					break
				}
			}
		}
	}
}

// sourcesOf returns the images whose digest a field's mirror image must
// have: the image as written for a mirrored one, the images the rules
// mirror to it for one already mirrored, none otherwise.
func sourcesOf(f manifest.Image, eng *mirror.Engine) []string {
	switch {
	case f.Pulled() == f.Decision.Image && f.Decision.Action == mirror.AlreadyMirrored && eng != nil:
		return eng.Sources(f.Decision.Image)
	case f.Pulled() != f.Decision.Image && f.Decision.Action == mirror.Mirrored:
		return []string{f.Decision.Image}
	}
	return nil
}

// answer is a registry's answer about one image.
type answer struct {
	digest string
	err    error
}

// withDefaults are the jobs and the timeout of o, zero values filled in.
func (o VerifyOptions) withDefaults() (jobs int, timeout time.Duration) {
	jobs, timeout = o.Jobs, o.Timeout
	if jobs <= 0 {
		jobs = 8
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return jobs, timeout
}

func headAll(ctx context.Context, h Header, heads map[string]*answer, o VerifyOptions) {
	jobs, timeout := o.withDefaults()
	next := make(chan string)
	var wg sync.WaitGroup
	for range min(jobs, len(heads)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for img := range next {
				hctx, cancel := context.WithTimeout(ctx, timeout)
				desc, err := h.Head(hctx, img)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					err = fmt.Errorf("checking %s: no answer within %v", img, timeout)
				}
				a := heads[img]
				if a.err = err; err == nil {
					a.digest = desc.Digest.String()
				}
			}
		}()
	}
	for img := range heads {
		next <- img
	}
	close(next)
	wg.Wait()
}

func judge(c *Check, heads map[string]*answer, sources []string) {
	a := heads[c.Pulled]
	switch {
	case errors.Is(a.err, registry.ErrNotFound):
		c.Verdict, c.Error = Missing, a.err.Error()
		return
	case a.err != nil:
		c.Verdict, c.Error = Unchecked, a.err.Error()
		return
	}
	c.Verdict, c.Digest = Found, a.digest
	if len(sources) == 0 {
		return
	}
	var errs []error
	for _, s := range sources {
		sa := heads[s]
		if sa.err != nil {
			errs = append(errs, sa.err)
			continue
		}
		c.Source, c.SourceDigest = s, sa.digest
		if sa.digest == a.digest {
			return
		}
	}
	if c.Source == "" {
		c.Verdict, c.Error = Unchecked, "comparing with the source: "+errors.Join(errs...).Error()
		c.Source = sources[0]
		return
	}
	c.Verdict = Mismatch
	c.Error = fmt.Sprintf("%s is %s, but its source %s is %s", c.Pulled, a.digest, c.Source, c.SourceDigest)
}

// VerifySummary counts verdicts.
type VerifySummary struct {
	Fields   int `json:"fields"`
	Images   int `json:"images"`
	Present  int `json:"present"`
	Missing  int `json:"missing"`
	Mismatch int `json:"mismatched"`
	// Unsigned counts the mirror images that lack a signature of their
	// source.
	Unsigned int `json:"unsigned"`
	// NotPulled counts the images kept for their pull policy Never.
	NotPulled int `json:"notPulled"`
	Errors    int `json:"errors"`
}

// SummarizeChecks counts checks, and the distinct images they pulled.
func SummarizeChecks(checks []Check) VerifySummary {
	s := VerifySummary{Fields: len(checks)}
	images := map[string]bool{}
	for _, c := range checks {
		images[c.Pulled] = true
		switch c.Verdict {
		case Found:
			s.Present++
		case Missing:
			s.Missing++
		case Mismatch:
			s.Mismatch++
		case Unsigned:
			s.Unsigned++
		case NotPulled:
			s.NotPulled++
		default:
			s.Errors++
		}
	}
	s.Images = len(images)
	return s
}
