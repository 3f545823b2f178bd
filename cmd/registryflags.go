package cmd

import (
	"fmt"

	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/registry"
)

// RegistryOptions are the flags of the commands that reach registries.
// The commands register the ECR flags themselves (ECR.AddFlags), since
// only some copy.
type RegistryOptions struct {
	PlainHTTP []string
	Jobs      int
	ECR       ECROptions
}

// AddFlags registers --plain-http and --jobs, with jobs as the default of
// --jobs and what as what one job is.
func (o *RegistryOptions) AddFlags(fs *pflag.FlagSet, jobs int, what string) {
	fs.StringArrayVar(&o.PlainHTTP, "plain-http", nil, "a registry (host[:port]) to reach over plain HTTP instead of HTTPS, such as a local test registry; repeatable")
	fs.IntVar(&o.Jobs, "jobs", jobs, what)
}

// Validate checks the flags.
func (o *RegistryOptions) Validate() error {
	if o.Jobs < 1 {
		return fmt.Errorf("--jobs must be at least 1, not %d", o.Jobs)
	}
	return o.ECR.Validate()
}

// Client makes the registry client of the flags. Credentials come from
// the Docker config, then for Amazon ECR from the AWS SDK; TLS trust from
// the system pool.
func (o *RegistryOptions) Client() (*registry.Client, error) {
	ro, err := o.ECR.Apply(registry.Options{PlainHTTP: o.PlainHTTP, UserAgent: "kmirror/" + version()})
	if err != nil {
		return nil, err
	}
	return registry.New(ro)
}
