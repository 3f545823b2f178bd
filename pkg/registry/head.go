package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Head asks the registry of image for its manifest, with a HEAD request,
// which fetches nothing and does not count against Docker Hub's pull
// limit. It resolves the reference a runtime pulls: the digest of a
// "repo:tag@digest" reference, not its tag.
func (c *Client) Head(ctx context.Context, image string) (*v1.Descriptor, error) {
	ref, err := c.Parse(image)
	if err != nil {
		return nil, err
	}
	return c.head(ctx, ref, ref.Pull())
}

func (c *Client) head(ctx context.Context, img Ref, ref name.Reference) (*v1.Descriptor, error) {
	desc, err := remote.Head(ref, c.options(remote.WithContext(ctx))...)
	return desc, c.wrap("checking", img, err)
}

// Platform annotations of a platform subset: the index kmirror makes for
// Copy with Platforms records the digest of the source index and the
// platforms it kept, so that Check can tell it is current from HEAD
// requests to the source.
const (
	AnnotationSource    = "dev.kmirror.source.digest"
	AnnotationPlatforms = "dev.kmirror.platforms"
)

// State is what Check found.
type State struct {
	// Source is the digest the source reference names now: for a
	// reference that pins a digest, that digest, without asking the source.
	Source string
	// Present reports whether the target already holds what the source
	// names (for a platform subset: a subset made from it with the same
	// platforms). A reference that pins a digest is present when the
	// target holds the digest, whatever the target's tag names.
	Present bool
	// Target is the digest the target reference names, "" when the
	// target does not hold it.
	Target string
}

// ErrPinnedPlatform refuses a platform subset of a digest-pinned image:
// the subset would be a new index, with another digest than the one the
// reference pins.
var ErrPinnedPlatform = errors.New("a platform subset of a digest-pinned image would have another digest; copy it without --platform")

// Check compares src and dst with HEAD requests (and, for a platform
// subset, a GET of the target's index), fetching no blob. A reference
// that pins a digest is looked up in the target alone, by its digest.
func (c *Client) Check(ctx context.Context, src, dst string, platforms []v1.Platform) (State, error) {
	s, d, err := c.parsePair(src, dst, platforms)
	if err != nil {
		return State{}, err
	}
	return c.check(ctx, s, d, platforms)
}

func (c *Client) parsePair(src, dst string, platforms []v1.Platform) (Ref, Ref, error) {
	s, err := c.Parse(src)
	if err != nil {
		return Ref{}, Ref{}, err
	}
	d, err := c.Parse(dst)
	if err != nil {
		return Ref{}, Ref{}, err
	}
	if len(platforms) > 0 && s.Digest != "" {
		return Ref{}, Ref{}, fmt.Errorf("copying %s: %w", src, ErrPinnedPlatform)
	}
	if s.Digest != d.Digest {
		return Ref{}, Ref{}, fmt.Errorf("copying %s to %s: the digests differ", src, dst)
	}
	return s, d, nil
}

func (c *Client) check(ctx context.Context, src, dst Ref, platforms []v1.Platform) (State, error) {
	if src.Digest != "" {
		got, err := c.headTarget(ctx, dst)
		return State{Source: src.Digest, Target: got, Present: got == src.Digest}, err
	}
	var st State
	desc, err := c.head(ctx, src, src.Pull())
	if err != nil {
		return st, err
	}
	st.Source = desc.Digest.String()
	if st.Target, err = c.headTarget(ctx, dst); err != nil || st.Target == "" {
		return st, err
	}
	if len(platforms) == 0 || !desc.MediaType.IsIndex() {
		st.Present = st.Target == st.Source
		return st, nil
	}
	st.Present, err = c.isSubset(ctx, dst, st.Source, platforms)
	return st, err
}

// headTarget returns the digest the target's reference names, or "" when
// the target does not hold it. A reference that pins a digest is looked
// up by the digest: whatever the mirror's tag names, the digest is there
// or not.
func (c *Client) headTarget(ctx context.Context, dst Ref) (string, error) {
	desc, err := c.head(ctx, dst, dst.Pull())
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// isSubset reports whether the index at dst is the subset of the source
// index digest for platforms.
func (c *Client) isSubset(ctx context.Context, dst Ref, source string, platforms []v1.Platform) (bool, error) {
	desc, err := remote.Get(dst.Push(), c.options(remote.WithContext(ctx))...)
	if err != nil {
		return false, c.wrap("reading", dst, err)
	}
	if !desc.MediaType.IsIndex() {
		return false, nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return false, c.wrap("reading", dst, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return false, c.wrap("reading", dst, err)
	}
	return m.Annotations[AnnotationSource] == source && m.Annotations[AnnotationPlatforms] == platformList(platforms), nil
}

// platformList is the canonical form of platforms, for the annotation.
func platformList(platforms []v1.Platform) string {
	s := make([]string, len(platforms))
	for i, p := range platforms {
		s[i] = p.String()
	}
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}
