package registry

import (
	"context"
	"errors"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// SubsetSource reads the manifest image names and returns the source
// digest and the platforms that a platform subset records (see
// CopyOptions.Platforms): "" and "" when image is not an index that Copy
// made as a subset. verify --same-digest accepts such an index for its
// source, whose digest it does not have.
func (c *Client) SubsetSource(ctx context.Context, image string) (source, platforms string, err error) {
	ref, err := c.Parse(image)
	if err != nil {
		return "", "", err
	}
	desc, err := remote.Get(ref.Pull(), c.options(remote.WithContext(ctx))...)
	if err != nil {
		return "", "", c.wrap("reading", ref, err)
	}
	source, platforms, err = subsetAnnotations(desc)
	return source, platforms, c.wrap("reading", ref, err)
}

// SubsetSource is Client.SubsetSource through the repository's kept
// transport.
func (p *Prober) SubsetSource(ctx context.Context, image string) (source, platforms string, err error) {
	ref, err := p.c.Parse(image)
	if err != nil {
		return "", "", err
	}
	pl, err := p.pullers.Get(ctx, ref.Repo.Name(), p.newPuller)
	if err != nil {
		return "", "", p.c.wrap("reading", ref, err)
	}
	desc, err := pl.Get(ctx, ref.Pull())
	if err != nil {
		err = p.c.wrap("reading", ref, err)
		if errors.Is(err, ErrDenied) {
			p.forget(ref.Repo.Name(), pl)
		}
		return "", "", err
	}
	source, platforms, err = subsetAnnotations(desc)
	return source, platforms, p.c.wrap("reading", ref, err)
}

// subsetAnnotations are the annotations of a platform subset in desc.
func subsetAnnotations(desc *remote.Descriptor) (source, platforms string, err error) {
	if !desc.MediaType.IsIndex() {
		return "", "", nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return "", "", err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return "", "", err
	}
	if m.Annotations[AnnotationSource] == "" {
		return "", "", nil
	}
	return m.Annotations[AnnotationSource], m.Annotations[AnnotationPlatforms], nil
}
