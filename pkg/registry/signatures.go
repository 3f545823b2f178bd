package registry

import (
	"context"
	"fmt"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
)

// signatureTypes are the artifactTypes of the referrers that sign their
// subject: cosign's (--registry-referrers-mode=oci-1-1), Notation's, and
// a Sigstore bundle.
var signatureTypes = map[string]bool{
	"application/vnd.dev.cosign.artifact.sig.v1+json":      true,
	"application/vnd.cncf.notary.signature":                true,
	"application/vnd.dev.sigstore.bundle.v0.3+json":        true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
}

// MissingSignatures returns the signatures that src's repository attaches
// to the image dst holds at digest, to it and to the children of an
// index, and that dst's repository lacks: cosign's sha256-<hex>.sig tags,
// and OCI 1.1 referrers whose artifactType is a signature's. Each is named
// by its tag, or by its digest and artifactType.
func (c *Client) MissingSignatures(ctx context.Context, src, dst, digest string) ([]string, error) {
	s, err := c.Parse(src)
	if err != nil {
		return nil, err
	}
	d, err := c.Parse(dst)
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, fmt.Errorf("checking the signatures of %s: %w", dst, err)
	}
	from, err := c.newLook(ctx, s.Repo, h)
	if err != nil || from.none() {
		return nil, err
	}
	dstOpts, err := c.readerOptions(ctx)
	if err != nil {
		return nil, err
	}
	to := &look{repo: d.Repo, opts: dstOpts, api: true}
	subjects, err := c.subjects(ctx, d, digest, dstOpts)
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		missing []string
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(c.jobs)
	for _, subject := range subjects {
		g.Go(func() error {
			arts, err := c.attached(ctx, from, subject, kinds{referrers: true, tags: []string{".sig"}})
			if err != nil {
				return err
			}
			arts = slices.DeleteFunc(arts, func(a artifact) bool { return a.tag == "" && !signatureTypes[a.ArtifactType] })
			if len(arts) == 0 {
				return nil
			}
			lack, err := c.lacking(ctx, to, subject, arts)
			mu.Lock()
			defer mu.Unlock()
			for _, a := range lack {
				if a.tag != "" {
					missing = append(missing, a.tag)
				} else {
					missing = append(missing, fmt.Sprintf("%s (%s) of %s", a.Digest, a.ArtifactType, subject))
				}
			}
			return err
		})
	}
	err = g.Wait()
	slices.Sort(missing)
	return missing, err
}
