package ecr

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/name"
)

// CreateRepository makes repo exist before kmirror writes to it, when its
// registry is ECR and Options.CreateRepositories is set; otherwise it does
// nothing. It asks once per repository for the life of the Client:
// callers at the same time share one attempt, and a failed attempt is
// made again by the next caller. A repository that exists is left as it
// is; one that another process creates meanwhile is no error.
func (c *Client) CreateRepository(ctx context.Context, repo name.Repository) error {
	if !c.o.CreateRepositories {
		return nil
	}
	reg, ok := c.Lookup(repo.RegistryStr())
	if !ok {
		return nil
	}
	key := repo.Name()
	if _, done := c.created.Load(key); done {
		return nil
	}
	_, err, _ := c.creates.Do(key, func() (any, error) {
		if _, done := c.created.Load(key); done {
			return nil, nil
		}
		err := c.create(ctx, reg, repo.RepositoryStr())
		if err == nil {
			c.created.Store(key, true)
		}
		return nil, err
	})
	return err
}

// create looks the repository up, and creates it with the settings when
// it is not there.
func (c *Client) create(ctx context.Context, reg Registry, repo string) error {
	api, reg, err := c.api(reg)
	if err != nil {
		return err
	}
	var id *string
	if reg.Account != "" {
		id = aws.String(reg.Account)
	}
	_, err = api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RegistryId: id, RepositoryNames: []string{repo}})
	var notFound *types.RepositoryNotFoundException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &notFound):
		return c.createError("looking up", reg, repo, "ecr:DescribeRepositories", err)
	}
	_, err = api.CreateRepository(ctx, c.o.Settings.createInput(id, repo))
	var exists *types.RepositoryAlreadyExistsException
	switch {
	case errors.As(err, &exists):
		// Another creator was first; the settings are its to apply.
		return nil
	case err != nil:
		return c.createError("creating", reg, repo, "ecr:CreateRepository", err)
	}
	s := c.o.Settings
	if s == nil {
		return nil
	}
	if s.LifecyclePolicy != "" {
		_, err := api.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RegistryId: id, RepositoryName: aws.String(repo), LifecyclePolicyText: aws.String(s.LifecyclePolicy)})
		if err != nil {
			return c.createError("setting the lifecycle policy of", reg, repo, "ecr:PutLifecyclePolicy", err)
		}
	}
	if s.RepositoryPolicy != "" {
		_, err := api.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RegistryId: id, RepositoryName: aws.String(repo), PolicyText: aws.String(s.RepositoryPolicy)})
		if err != nil {
			return c.createError("setting the repository policy of", reg, repo, "ecr:SetRepositoryPolicy", err)
		}
	}
	return nil
}

// createError says what failed, which registry answered, and what to do.
func (c *Client) createError(doing string, reg Registry, repo, action string, err error) error {
	hint := "create the repository yourself and run with --create-repositories=false"
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "AccessDeniedException" {
		hint = "the identity needs " + action + " (kmirror manifests --iam-policy sync prints the policy), or " + hint
	}
	return fmt.Errorf("%s the repository %s in the Amazon ECR registry %s (%s): %w; %s", doing, repo, reg.Host, reg.Region, err, hint)
}
