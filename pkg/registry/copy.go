package registry

import (
	"context"
	"fmt"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// CopyOptions change what Copy copies.
type CopyOptions struct {
	// Platforms, when set, copies only these platforms of an index, as a
	// new index (with a digest of its own) that records the source digest
	// and the platforms in its annotations. A single image is copied
	// whole. A digest-pinned source is refused (ErrPinnedPlatform).
	Platforms []v1.Platform
	// Progress is called as bytes go into the mirror: complete of total
	// bytes, where total grows as the copy finds more blobs, and blobs the
	// mirror already holds count as complete. It is called from one
	// goroutine, and not after Copy returns.
	Progress func(complete, total int64)
	// Referrers also copies the signatures, attestations and SBOMs
	// attached to the image in the source (see copyReferrers), whether
	// the image was copied or present.
	Referrers bool
}

// CopyResult says what Copy did.
type CopyResult struct {
	// State is what the check before copying found.
	State
	// Copied reports whether anything was written; false when the target
	// already held the image.
	Copied bool
	// Digest is the digest the target's reference names after the copy.
	Digest string
	// Bytes counts the bytes sent to the mirror; blobs it held already
	// and blobs mounted from another of its repositories count nothing.
	Bytes int64
	// Referrers counts the artifacts attached to the image, with
	// CopyOptions.Referrers.
	Referrers ReferrerCount
}

// Copy makes dst hold what src names, unless Check finds that it does.
// Manifests are copied as their raw bytes, so every digest of an index
// and its images is the same in the mirror. Children are written before
// the index that names them, and the tag last, so that an interrupted copy
// leaves no tag naming a missing manifest or blob. A "repo:tag@digest"
// source is copied by its digest and tagged with its tag.
//
// Blobs go from the source to the mirror without touching the disk, a few
// at once (Options.Jobs). A blob that the mirror already holds in the
// target repository is skipped; one that this Client has seen in another
// repository of the same mirror, or that the source holds on the same
// registry, is mounted where the registry allows it.
func (c *Client) Copy(ctx context.Context, src, dst string, o CopyOptions) (CopyResult, error) {
	s, d, err := c.parsePair(src, dst, o.Platforms)
	if err != nil {
		return CopyResult{}, err
	}
	st, err := c.check(ctx, s, d, o.Platforms)
	res := CopyResult{State: st, Digest: st.Target}
	if err != nil || st.Present {
		return c.withReferrers(ctx, s, d, res, err, o)
	}
	if err := c.createRepository(ctx, d); err != nil {
		return res, err
	}
	var sent atomic.Int64
	res.Digest, err = c.copy(withCounter(ctx, &sent), s, d, st.Source, o)
	res.Bytes = sent.Load()
	res.Copied = err == nil
	return c.withReferrers(ctx, s, d, res, err, o)
}

// copy writes what src names at digest to dst and returns the digest it
// wrote.
func (c *Client) copy(ctx context.Context, src, dst Ref, digest string, o CopyOptions) (string, error) {
	desc, err := remote.Get(src.Repo.Digest(digest), c.options(remote.WithContext(ctx))...)
	if err != nil {
		return "", c.wrap("reading", src, err)
	}
	m := &mounter{index: c.blobs, dst: dst.Repo}
	var top interface {
		remote.Taggable
		Digest() (v1.Hash, error)
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err == nil && len(o.Platforms) > 0 {
			idx, err = subset(idx, digest, o.Platforms)
		}
		if err != nil {
			return "", c.wrap("reading", src, err)
		}
		top = &mountIndex{base: idx, m: m}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return "", c.wrap("reading", src, err)
		}
		top = &mountImage{Image: img, m: m}
	default:
		return "", fmt.Errorf("copying %s: cannot copy a manifest of type %s", src, desc.MediaType)
	}
	opts := c.options(remote.WithContext(ctx))
	var (
		done  chan struct{}
		total int64
	)
	if o.Progress != nil {
		updates, d := make(chan v1.Update, 64), make(chan struct{})
		done = d
		go func() {
			defer close(d)
			for u := range updates {
				total = u.Total
				o.Progress(u.Complete, u.Total)
			}
		}()
		opts = append(opts, remote.WithProgress(updates))
	}
	err = remote.Push(dst.Push(), top, opts...)
	if done != nil {
		<-done
		if err == nil {
			// ggcr does not count the last read of a blob that comes
			// with io.EOF; a finished copy is complete.
			o.Progress(total, total)
		}
	}
	if err != nil {
		return "", c.wrap("writing", dst, err)
	}
	m.commit()
	h, err := top.Digest()
	return h.String(), err
}

// subset is the index of the platforms of idx, annotated with the source
// digest and the platforms, so that Check can recognise it later.
func subset(idx v1.ImageIndex, source string, platforms []v1.Platform) (v1.ImageIndex, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	keep := func(d v1.Descriptor) bool {
		for _, p := range platforms {
			if d.Platform != nil && d.Platform.OS == p.OS && d.Platform.Architecture == p.Architecture &&
				(p.Variant == "" || d.Platform.Variant == p.Variant) {
				return true
			}
		}
		return false
	}
	var found bool
	for _, d := range im.Manifests {
		found = found || keep(d)
	}
	if !found {
		return nil, fmt.Errorf("the index has none of the platforms %s", platformList(platforms))
	}
	out := mutate.RemoveManifests(idx, func(d v1.Descriptor) bool { return !keep(d) })
	return mutate.Annotations(out, map[string]string{
		AnnotationSource:    source,
		AnnotationPlatforms: platformList(platforms),
	}).(v1.ImageIndex), nil
}
