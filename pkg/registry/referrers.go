package registry

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// ReferrerCount counts the artifacts attached to an image that a copy
// found in its source: OCI 1.1 referrers and cosign's tag-scheme
// artifacts, of the image's manifests and of those artifacts in turn.
type ReferrerCount struct {
	// Copied counts the artifacts written to the mirror.
	Copied int `json:"copied"`
	// Present counts those the mirror held already.
	Present int `json:"present"`
}

// Add adds the counts of o to n.
func (n *ReferrerCount) Add(o ReferrerCount) {
	n.Copied += o.Copied
	n.Present += o.Present
}

// withReferrers copies the artifacts attached to the image of res, once
// the mirror holds it, when o asks for them.
func (c *Client) withReferrers(ctx context.Context, src, dst Ref, res CopyResult, err error, o CopyOptions) (CopyResult, error) {
	if err != nil || !o.Referrers {
		return res, err
	}
	var sent atomic.Int64
	res.Referrers, err = c.copyReferrers(withCounter(ctx, &sent), src, dst, res.Source, res.Digest)
	res.Bytes += sent.Load()
	if err != nil {
		err = fmt.Errorf("copying what is attached to %s: %w", src, err)
	}
	return res, err
}

// copyReferrers copies into dst the artifacts attached in src to the
// image that dst holds at target, whose source is source: those of each of
// its manifests (a platform subset's new index has none: its children's
// are copied), then those attached to them, and so on. The artifacts of
// one subject are written one at a time, since each may rewrite the
// subject's fallback tag in a mirror without the referrers API; subjects
// go Options.Jobs at a time.
func (c *Client) copyReferrers(ctx context.Context, src, dst Ref, source, target string) (ReferrerCount, error) {
	var n ReferrerCount
	dstOpts, err := c.readerOptions(ctx)
	if err != nil {
		return n, err
	}
	probe, err := v1.NewHash(source)
	if err != nil {
		return n, fmt.Errorf("reading %s: %w", src, err)
	}
	from, err := c.newLook(ctx, src.Repo, probe)
	if err != nil || from.none() {
		return n, err
	}
	to := &look{repo: dst.Repo, opts: dstOpts, api: true}
	// The mirror holds the image now; reading it there spares the source
	// (Docker Hub counts a GET of a manifest as a pull).
	subjects, err := c.subjects(ctx, dst, target, dstOpts)
	if err != nil {
		return n, err
	}
	if source != target {
		subjects = subjects[1:]
	}
	seen := map[v1.Hash]bool{}
	var mu sync.Mutex
	for len(subjects) > 0 {
		var next []v1.Hash
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(c.jobs)
		for _, s := range subjects {
			seen[s] = true
			g.Go(func() error {
				arts, copied, err := c.copySubject(ctx, from, to, s)
				mu.Lock()
				defer mu.Unlock()
				n.Copied += copied
				n.Present += len(arts) - copied
				for _, a := range arts {
					next = append(next, a.Digest)
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return n, err
		}
		subjects = subjects[:0]
		for _, h := range next {
			if !seen[h] {
				seen[h] = true
				subjects = append(subjects, h)
			}
		}
	}
	return n, nil
}

// copySubject copies the artifacts attached to subject in from that to
// lacks, and returns them all and how many it copied.
func (c *Client) copySubject(ctx context.Context, from, to *look, subject v1.Hash) ([]artifact, int, error) {
	arts, err := c.attached(ctx, from, subject, allKinds)
	if err != nil || len(arts) == 0 {
		return nil, 0, err
	}
	defer lockSubject(to.repo, subject)()
	missing, err := c.lacking(ctx, to, subject, arts)
	if err != nil {
		return nil, 0, err
	}
	for i, a := range missing {
		if err := c.copyArtifact(ctx, from.repo, to, a); err != nil {
			return arts, i, err
		}
	}
	return arts, len(missing), nil
}

// copyArtifact copies one artifact from src, byte for byte, as Copy
// copies an image: a referrer by its digest, a cosign artifact under its
// tag.
func (c *Client) copyArtifact(ctx context.Context, src name.Repository, to *look, a artifact) error {
	digest := a.Digest.String()
	s, d := Ref{Repo: src, Digest: digest}, Ref{Repo: to.repo, Tag: a.tag, Digest: digest}
	if a.tag == "" {
		// go-containerregistry's push skips a manifest the mirror holds,
		// and with it the update of the subject's fallback tag that makes
		// the mirror list it: a copy cut short between the two would stay
		// unlisted. Putting the manifest again lists it.
		if _, err := remote.Head(to.repo.Digest(digest), append(to.opts, remote.WithContext(ctx))...); err == nil {
			desc, err := c.getManifest(ctx, src.Digest(digest), c.options(remote.WithContext(ctx)))
			if err != nil {
				return c.wrap("reading", s, err)
			}
			return c.wrap("writing", d, remote.Put(to.repo.Digest(digest), desc, c.options(remote.WithContext(ctx))...))
		}
	}
	var tag *name.Tag
	if a.tag != "" {
		t := to.repo.Tag(a.tag)
		tag = &t
	}
	_, err := c.copy(ctx, s, d, digest, tag, CopyOptions{})
	return err
}

// subjectLocks serialize the writes of the artifacts of one subject in
// one repository, in this process. Two pairs of a sync can name one image
// (app:1 and app:latest): the second then finds the artifacts the first
// wrote instead of writing them again; and go-containerregistry updates a
// fallback tag by reading it and writing it back, so two writers at once
// could lose one's referrer.
var subjectLocks [64]sync.Mutex

func lockSubject(repo name.Repository, subject v1.Hash) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(repo.Name() + "@" + subject.String()))
	mu := &subjectLocks[h.Sum32()%uint32(len(subjectLocks))]
	mu.Lock()
	return mu.Unlock
}
