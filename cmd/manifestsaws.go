package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/admission/install"
	ecrpkg "kmirror.dev/kmirror/pkg/ecr"
	"kmirror.dev/kmirror/pkg/mirror"
)

// iamPolicyAuto is --iam-policy without a mode: the mode of the webhook
// the other flags describe.
const iamPolicyAuto = "webhook"

// ManifestsAWSOptions are the flags of "kmirror manifests" for a mirror on
// Amazon ECR: the ServiceAccount's annotations that IRSA and EKS Pod
// Identity read, the ECR flags of kmirror serve, and the IAM policy.
type ManifestsAWSOptions struct {
	ServiceAccountAnnotations []string
	IAMPolicy                 string
	ECR                       ECROptions
}

// AddFlags registers the flags.
func (o *ManifestsAWSOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.ServiceAccountAnnotations, "service-account-annotation", nil, "KEY=VALUE: an annotation of the webhook's ServiceAccount, such as eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/kmirror for IRSA; repeatable")
	fs.StringVar(&o.IAMPolicy, "iam-policy", "", `print only the minimal IAM policy (JSON) for the rules' Amazon ECR mirrors, for a mode: "verify" (kmirror verify, serve --swap-policy exists), "sync", "copy-missing"; without a mode, the webhook's of the other flags`)
	fs.Lookup("iam-policy").NoOptDefVal = iamPolicyAuto
	o.ECR.AddFlags(fs, true)
}

// Validate checks the flags with those of the webhook.
func (o *ManifestsAWSOptions) Validate(fs *pflag.FlagSet, swapPolicy string, copyMissing bool) error {
	if err := o.ECR.Validate(); err != nil {
		return err
	}
	if o.IAMPolicy != "" {
		return nil
	}
	for _, name := range []string{"ecr", "ecr-region"} {
		if fs.Changed(name) && swapPolicy != install.SwapExists {
			return fmt.Errorf("--%s needs --swap-policy exists: only then does the webhook reach the mirror", name)
		}
	}
	for _, name := range []string{"create-repositories", "ecr-repository-settings"} {
		if fs.Changed(name) && !copyMissing {
			return fmt.Errorf("--%s needs --copy-missing: only then does the webhook create repositories", name)
		}
	}
	return nil
}

// apply sets the ServiceAccount's annotations and kmirror serve's ECR
// flags of opts.
func (o *ManifestsAWSOptions) apply(opts *install.Options) error {
	if len(o.ServiceAccountAnnotations) > 0 {
		opts.ServiceAccountAnnotations = map[string]string{}
	}
	for _, a := range o.ServiceAccountAnnotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return fmt.Errorf("--service-account-annotation %q is not KEY=VALUE", a)
		}
		opts.ServiceAccountAnnotations[k] = v
	}
	for _, h := range o.ECR.Hosts {
		opts.ECRArgs = append(opts.ECRArgs, "--ecr="+h)
	}
	if o.ECR.Region != "" {
		opts.ECRArgs = append(opts.ECRArgs, "--ecr-region="+o.ECR.Region)
	}
	if opts.CopyMissing && !o.ECR.CreateRepositories {
		opts.ECRArgs = append(opts.ECRArgs, "--create-repositories=false")
	}
	if o.ECR.SettingsFile != "" {
		// Read and checked here, so that a bad file stops the install.
		if _, err := ecrpkg.ReadSettings(o.ECR.SettingsFile); err != nil {
			return err
		}
		b, err := os.ReadFile(o.ECR.SettingsFile)
		if err != nil {
			return err
		}
		opts.ECRSettings = b
	}
	return nil
}

// policy is the IAM policy of --iam-policy for the rules of eng.
func (o *ManifestsAWSOptions) policy(eng *mirror.Engine, swapPolicy string, copyMissing bool) ([]byte, error) {
	mode := ecrpkg.Mode(o.IAMPolicy)
	if o.IAMPolicy == iamPolicyAuto {
		switch {
		case copyMissing:
			mode = ecrpkg.ModeCopyMissing
		case swapPolicy == install.SwapExists:
			mode = ecrpkg.ModeVerify
		default:
			return nil, errors.New("kmirror serve --swap-policy always reaches no registry and needs no IAM policy; give a mode: --iam-policy=verify, sync or copy-missing")
		}
	}
	c, err := o.ECR.Client()
	if err != nil {
		return nil, err
	}
	po := ecrpkg.PolicyOptions{Mode: mode, Create: o.ECR.CreateRepositories}
	po.Settings, err = o.ECR.settings()
	if err != nil {
		return nil, err
	}
	for _, r := range eng.Rules().Mirrors {
		po.Mirrors, po.Sources = append(po.Mirrors, r.To), append(po.Sources, r.From)
	}
	return c.Policy(po)
}
