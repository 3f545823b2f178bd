package registry

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Push writes idx, with its images and their blobs, to dst ("repo:tag";
// no tag is "latest"), children first and the tag last, and returns the
// digest the tag names. Blobs the registry holds already are skipped. A
// dst with a digest is refused: an index's digest is its own.
func (c *Client) Push(ctx context.Context, dst string, idx v1.ImageIndex) (string, error) {
	ref, err := c.Parse(dst)
	if err != nil {
		return "", err
	}
	if ref.Digest != "" {
		return "", fmt.Errorf("pushing to %s: give a tag, not a digest", dst)
	}
	pusher, err := c.pusher(ctx, ref.Repo)
	if err == nil {
		err = pusher.Push(ctx, ref.Push(), idx)
	}
	if err != nil {
		return "", c.wrap("writing", ref, err)
	}
	h, err := idx.Digest()
	return h.String(), err
}
