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
