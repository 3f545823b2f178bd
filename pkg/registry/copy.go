package registry

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
	// DigestOnly reports that a "repo:tag@digest" source was copied by
	// its digest alone, leaving the mirror's tag as it was, because the
	// source's tag names another digest now (or nothing).
	DigestOnly bool
	// Referrers counts the artifacts attached to the image, with
	// CopyOptions.Referrers.
	Referrers ReferrerCount
}

// Copy makes dst hold what src names, unless Check finds that it does.
// Manifests are copied as their raw bytes, so every digest of an index
// and its images is the same in the mirror. Children are written before
// the index that names them, and the tag last, so that an interrupted copy
// leaves no tag naming a missing manifest or blob.
//
// A tag is written only to name what the source's tag names now. A
// "repo:tag@digest" source is copied by its digest, and tagged only when
// one HEAD request finds that the source's tag names that digest;
// otherwise the digest is copied alone (CopyResult.DigestOnly), so that a
// reference pinning an old digest under a tag cannot move the mirror's tag
// back, nor make a tag the source does not have.
//
// Concurrent copies into one repository of one digest (several tags of
// an image) share one copy of the digest, then each writes its tag.
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
	tag, err := c.tagToWrite(ctx, s, d, st.Source)
	if err != nil {
		return res, err
	}
	res.DigestOnly = tag == nil && d.Tag != ""
	var sent atomic.Int64
	res.Digest, err = c.copy(withCounter(ctx, &sent), s, d, st.Source, tag, o)
	res.Bytes = sent.Load()
	res.Copied = err == nil
	return c.withReferrers(ctx, s, d, res, err, o)
}

// tagToWrite returns the tag of dst that a copy of digest writes, or nil
// for none. A "repo:tag@digest" source is asked, with a HEAD request,
// which digest its tag names now; a source without a digest names what
// Check found its tag names.
func (c *Client) tagToWrite(ctx context.Context, src, dst Ref, digest string) (*name.Tag, error) {
	if dst.Digest == "" {
		tag := dst.Repo.Tag(dst.tag())
		return &tag, nil
	}
	if src.Tag == "" || dst.Tag == "" {
		return nil, nil
	}
	desc, err := c.head(ctx, src, src.Repo.Tag(src.Tag))
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case desc.Digest.String() != digest:
		return nil, nil
	}
	tag := dst.Repo.Tag(dst.Tag)
	return &tag, nil
}

// copy writes what src names at digest to dst's repository by its digest,
// then tag unless it is nil, and returns the digest it wrote.
func (c *Client) copy(ctx context.Context, src, dst Ref, digest string, tag *name.Tag, o CopyOptions) (string, error) {
	opts, stop := progress(o.Progress)
	pusher, err := c.pusher(ctx, dst.Repo, opts...)
	if err != nil {
		stop(false)
		return "", c.wrap("writing", dst, err)
	}
	top, err := c.copyOnce(ctx, pusher, src, dst, digest, o.Platforms)
	if err == nil && tag != nil {
		err = c.wrap("writing", dst, pusher.Put(ctx, *tag, top))
	}
	stop(err == nil)
	if err != nil {
		return "", err
	}
	return top.digest.String(), nil
}

// copyOnce writes what src names at digest to dst's repository by its
// digest, once for concurrent copies of one digest into one repository:
// their uploads of the same blobs would race, which distribution answers
// by refusing a manifest now and then. The copies that wait share the
// result; the bounds of the one that copies (its context) bound them.
func (c *Client) copyOnce(ctx context.Context, pusher *remote.Pusher, src, dst Ref, digest string, platforms []v1.Platform) (*written, error) {
	key := dst.Repo.Name() + "@" + digest + " " + platformList(platforms)
	v, err, _ := c.flights.Do(key, func() (any, error) {
		return c.writeDigest(ctx, pusher, src, dst, digest, platforms)
	})
	if err != nil {
		return nil, err
	}
	return v.(*written), nil
}

// writeDigest copies the manifest at digest of src, children first, to
// dst's repository, by its digest.
func (c *Client) writeDigest(ctx context.Context, pusher *remote.Pusher, src, dst Ref, digest string, platforms []v1.Platform) (*written, error) {
	top, m, err := c.source(ctx, src, dst, digest, platforms)
	if err != nil {
		return nil, err
	}
	w, err := newWritten(top)
	if err != nil {
		return nil, c.wrap("reading", src, err)
	}
	if err := pusher.Push(ctx, dst.Repo.Digest(w.digest.String()), top); err != nil {
		return nil, c.wrap("writing", dst, err)
	}
	m.commit()
	return w, nil
}

// source reads the manifest at digest of src, for a copy into dst: an
// image, or an index whose children are read as the copy needs them.
func (c *Client) source(ctx context.Context, src, dst Ref, digest string, platforms []v1.Platform) (remote.Taggable, *mounter, error) {
	puller, err := remote.NewPuller(c.options(remote.WithContext(ctx))...)
	if err != nil {
		return nil, nil, c.wrap("reading", src, err)
	}
	desc, err := puller.Get(ctx, src.Repo.Digest(digest))
	if err != nil {
		return nil, nil, c.wrap("reading", src, err)
	}
	r := &sourceReader{ctx: ctx, puller: puller, repo: src.Repo, m: &mounter{index: c.blobs, dst: dst.Repo}}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := r.index(desc)
		if err != nil {
			return nil, nil, c.wrap("reading", src, err)
		}
		if len(platforms) == 0 {
			return idx, r.m, nil
		}
		sub, err := subset(idx, digest, platforms)
		if err != nil {
			return nil, nil, c.wrap("reading", src, err)
		}
		return sub, r.m, nil
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, nil, c.wrap("reading", src, err)
		}
		return &mountImage{Image: img, m: r.m}, r.m, nil
	}
	return nil, nil, fmt.Errorf("copying %s: cannot copy a manifest of type %s", src, desc.MediaType)
}

// pusher returns the Pusher of a copy or a push into repo. Every write
// into a target repository starts here, so that whatever a registry needs
// before a repository's first write has one place to go.
func (c *Client) pusher(ctx context.Context, repo name.Repository, extra ...remote.Option) (*remote.Pusher, error) {
	if c.repositories != nil {
		if err := c.repositories.CreateRepository(ctx, repo); err != nil {
			return nil, err
		}
	}
	return remote.NewPusher(c.options(remote.WithContext(ctx), extra...)...)
}

// progress passes go-containerregistry's updates to report, from one
// goroutine. stop, called once the last write returned, waits for it, and
// reports a finished copy as complete: ggcr does not count the last read
// of a blob that comes with io.EOF.
func progress(report func(complete, total int64)) (opts []remote.Option, stop func(ok bool)) {
	if report == nil {
		return nil, func(bool) {}
	}
	updates, done := make(chan v1.Update, 64), make(chan struct{})
	var total int64
	go func() {
		defer close(done)
		for u := range updates {
			total = u.Total
			report(u.Complete, u.Total)
		}
	}()
	return []remote.Option{remote.WithProgress(updates)}, func(ok bool) {
		close(updates)
		<-done
		if ok {
			report(total, total)
		}
	}
}

// written is a manifest a copy wrote by its digest, which its tags then
// name.
type written struct {
	raw       []byte
	mediaType types.MediaType
	digest    v1.Hash
}

func newWritten(t remote.Taggable) (*written, error) {
	d, ok := t.(interface {
		MediaType() (types.MediaType, error)
		Digest() (v1.Hash, error)
	})
	if !ok {
		return nil, fmt.Errorf("a manifest of %T has no digest", t)
	}
	raw, err := t.RawManifest()
	if err != nil {
		return nil, err
	}
	mt, err := d.MediaType()
	if err != nil {
		return nil, err
	}
	h, err := d.Digest()
	return &written{raw: raw, mediaType: mt, digest: h}, err
}

func (w *written) RawManifest() ([]byte, error)        { return w.raw, nil }
func (w *written) MediaType() (types.MediaType, error) { return w.mediaType, nil }
func (w *written) Digest() (v1.Hash, error)            { return w.digest, nil }
func (w *written) Size() (int64, error)                { return int64(len(w.raw)), nil }

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
