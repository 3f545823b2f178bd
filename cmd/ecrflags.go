package cmd

import (
	"errors"

	"github.com/spf13/pflag"

	// Named so: the tests of package cmd have a constant named ecr.
	ecrpkg "kmirror.dev/kmirror/pkg/ecr"
	"kmirror.dev/kmirror/pkg/registry"
)

// ECROptions are the flags for mirrors on Amazon ECR, shared by sync,
// verify and serve: which hosts are ECR besides those in ECR's own form,
// and, for the commands that copy, whether and how repositories are
// created. Credentials come from the AWS SDK's default chain, after the
// Docker config.
type ECROptions struct {
	Hosts              []string
	Region             string
	CreateRepositories bool
	SettingsFile       string

	client *ecrpkg.Client
}

// AddFlags registers --ecr and --ecr-region, and with copies
// --create-repositories and --ecr-repository-settings.
func (o *ECROptions) AddFlags(fs *pflag.FlagSet, copies bool) {
	fs.StringArrayVar(&o.Hosts, "ecr", nil, "a registry host[:port] to handle as Amazon ECR, besides those in ECR's own form (<account>.dkr.ecr.<region>.amazonaws.com[.cn]), such as a VPC endpoint; repeatable")
	fs.StringVar(&o.Region, "ecr-region", "", "with --ecr: the region of those registries; default: the AWS config's (AWS_REGION, the profile's region)")
	if copies {
		fs.BoolVar(&o.CreateRepositories, "create-repositories", true, "create each repository of an Amazon ECR mirror that does not exist, before the first copy into it; =false leaves that to you")
		fs.StringVar(&o.SettingsFile, "ecr-repository-settings", "", "a file of the settings of the ECR repositories created: tag mutability, scan on push, encryption, tags, lifecycle and repository policies (see the README)")
	}
}

// Validate checks that the flags go together.
func (o *ECROptions) Validate() error {
	switch {
	case o.Region != "" && len(o.Hosts) == 0:
		return errors.New("--ecr-region needs --ecr: a host in ECR's own form names its region")
	case o.SettingsFile != "" && !o.CreateRepositories:
		return errors.New("--ecr-repository-settings applies to the repositories kmirror creates, and --create-repositories=false creates none")
	}
	return nil
}

// Client returns the ECR client of the flags, made once, so that the
// registry clients of one command share its tokens and its record of the
// repositories created.
func (o *ECROptions) Client() (*ecrpkg.Client, error) {
	if o.client != nil {
		return o.client, nil
	}
	settings, err := o.settings()
	if err != nil {
		return nil, err
	}
	c, err := ecrpkg.New(ecrpkg.Options{Hosts: o.Hosts, Region: o.Region, CreateRepositories: o.CreateRepositories, Settings: settings})
	if err != nil {
		return nil, err
	}
	o.client = c
	return c, nil
}

// settings reads --ecr-repository-settings; nil without it.
func (o *ECROptions) settings() (*ecrpkg.Settings, error) {
	if o.SettingsFile == "" {
		return nil, nil
	}
	return ecrpkg.ReadSettings(o.SettingsFile)
}

// Apply gives ro the ECR client: tokens for ECR registries the Docker
// config has no credentials for, and repositories created before the
// first write.
func (o *ECROptions) Apply(ro registry.Options) (registry.Options, error) {
	c, err := o.Client()
	if err != nil {
		return ro, err
	}
	ro.ExtraKeychain, ro.Repositories = c, c
	return ro, nil
}
