package mirrorsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/registry"
)

// SignatureChecker names the signatures that a mirror's copy of an image
// lacks; *registry.Client is one.
type SignatureChecker interface {
	// MissingSignatures names the signatures that src's repository
	// attaches to the image dst holds at digest and that dst's lacks.
	MissingSignatures(ctx context.Context, src, dst, digest string) ([]string, error)
}

var _ SignatureChecker = (*registry.Client)(nil)

// Unsigned: with VerifyOptions.Signatures, the mirror's copy lacks a
// signature that its source attaches to that digest.
const Unsigned Verdict = "signature missing"

// signatureAsk is one question to a SignatureChecker.
type signatureAsk struct{ src, dst, digest string }

// checkSignatures asks about each mirror image found, and its sources,
// whether the copy lacks a signature the source has, each question once,
// and turns the checks of those that do into Unsigned.
func checkSignatures(ctx context.Context, checks []Check, fields []manifest.Image, eng *mirror.Engine, o VerifyOptions) {
	asks := make([][]signatureAsk, len(checks))
	answers := map[signatureAsk]*signatureAnswer{}
	for i, c := range checks {
		if c.Verdict != Found {
			continue
		}
		sources := sourcesOf(fields[i], eng)
		if c.Source != "" {
			sources = []string{c.Source}
		}
		for _, s := range sources {
			a := signatureAsk{src: s, dst: c.Pulled, digest: c.Digest}
			asks[i] = append(asks[i], a)
			answers[a] = &signatureAnswer{}
		}
	}
	askSignatures(ctx, o, answers)
	for i := range checks {
		judgeSignatures(&checks[i], asks[i], answers)
	}
}

type signatureAnswer struct {
	missing []string
	err     error
}

func askSignatures(ctx context.Context, o VerifyOptions, answers map[signatureAsk]*signatureAnswer) {
	jobs, timeout := o.Jobs, o.Timeout
	if jobs <= 0 {
		jobs = 8
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var g errgroup.Group
	g.SetLimit(jobs)
	var mu sync.Mutex
	for a, ans := range answers {
		g.Go(func() error {
			actx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			missing, err := o.Signatures.MissingSignatures(actx, a.src, a.dst, a.digest)
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("checking the signatures of %s: no answer within %v", a.dst, timeout)
			}
			mu.Lock()
			ans.missing, ans.err = missing, err
			mu.Unlock()
			return nil
		})
	}
	g.Wait()
}

// judgeSignatures makes c Unsigned when a source has a signature its copy
// lacks, and Unchecked when no source could be asked (of several that the
// rules map to it, some may not exist).
func judgeSignatures(c *Check, asks []signatureAsk, answers map[signatureAsk]*signatureAnswer) {
	var errs []error
	for _, a := range asks {
		ans := answers[a]
		switch {
		case ans.err != nil:
			errs = append(errs, ans.err)
		case len(ans.missing) > 0:
			c.Verdict = Unsigned
			c.Error = fmt.Sprintf("%s lacks signatures of %s: %s", c.Pulled, a.src, strings.Join(ans.missing, ", "))
			return
		}
	}
	if len(errs) > 0 && len(errs) == len(asks) {
		c.Verdict, c.Error = Unchecked, "comparing the signatures with the source: "+errors.Join(errs...).Error()
	}
}
