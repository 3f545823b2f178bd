package registry

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
)

// RepositoryCreator makes a repository exist before the first write to
// it, for registries that take no push to a repository not made first,
// such as Amazon ECR (see package ecr). It does nothing for a registry it
// does not handle, and is called before every copy that writes: keeping
// to once per repository is its own work.
type RepositoryCreator interface {
	CreateRepository(ctx context.Context, repo name.Repository) error
}

// createRepository asks Options.Repositories to make dst's repository
// exist, before anything is written to it.
func (c *Client) createRepository(ctx context.Context, dst Ref) error {
	if c.repositories == nil {
		return nil
	}
	if err := c.repositories.CreateRepository(ctx, dst.Repo); err != nil {
		return &Error{Op: "writing", Image: dst.String(), Registry: dst.Repo.RegistryStr(), Err: err, Config: c.config}
	}
	return nil
}
