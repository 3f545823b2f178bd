package cmd

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/admission/install"
	"kmirror.dev/kmirror/rules"
)

// DefaultImageRepository is the image the Deployment runs unless --image
// says otherwise; the tag is kmirror's version.
const DefaultImageRepository = "ghcr.io/kmirror/kmirror"

// ManifestsOptions are the flags of "kmirror manifests".
type ManifestsOptions struct {
	RulesOptions
	Image          string
	Namespace      string
	WebhookURL     string
	CAFile         string
	SwapPolicy     string
	CopyMissing    bool
	RegistrySecret string
}

// AddFlags registers the manifests flags.
func (o *ManifestsOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	fs.StringVar(&o.Image, "image", DefaultImageRepository+":"+imageTag(), "the kmirror image the Deployment runs")
	fs.StringVar(&o.Namespace, "namespace", install.DefaultNamespace, "the namespace the webhook runs in, which it never mutates")
	fs.StringVar(&o.WebhookURL, "webhook-url", "", "print only the webhook configuration, for a kmirror serve that runs outside the cluster at this https URL")
	fs.StringVar(&o.CAFile, "ca-file", "", "with --webhook-url: the CA (PEM) that signed the certificate of that kmirror serve")
	fs.StringVar(&o.SwapPolicy, "swap-policy", install.SwapAlways, `the --swap-policy of kmirror serve: "always", or "exists" to send an image to the mirror only when the mirror holds it`)
	fs.BoolVar(&o.CopyMissing, "copy-missing", false, "with --swap-policy exists: kmirror serve copies the images the mirror lacks into it (--copy-missing); the webhook then declares side effects, except on dry runs")
	fs.StringVar(&o.RegistrySecret, "registry-secret", "", "with --swap-policy exists: a Secret of type kubernetes.io/dockerconfigjson in --namespace (kubectl create secret docker-registry) with the credentials of the mirror, and of the sources for --copy-missing, mounted as kmirror serve's --registry-config")
}

// Validate checks that the flags go together.
func (o *ManifestsOptions) Validate(fs *pflag.FlagSet) error {
	if (o.WebhookURL == "") != (o.CAFile == "") {
		return errors.New("--webhook-url and --ca-file go together")
	}
	if o.WebhookURL == "" {
		return nil
	}
	for _, name := range []string{"image", "rules", "namespace", "registry-secret"} {
		if fs.Changed(name) {
			return fmt.Errorf("--%s is for the in-cluster install and has no effect with --webhook-url", name)
		}
	}
	return nil
}

// NewCmdManifests returns "kmirror manifests".
func NewCmdManifests() *cobra.Command {
	o := &ManifestsOptions{}
	cmd := &cobra.Command{
		Use:   "manifests",
		Short: "Print the manifests that run the webhook in a cluster",
		Long: `Manifests prints the Kubernetes objects that run "kmirror serve" in a cluster:
a Namespace, a ServiceAccount, the rules in a ConfigMap, a TLS Secret, a
Service, a Deployment of two replicas, a PodDisruptionBudget and the
MutatingWebhookConfiguration. A new CA and serving certificate are generated
on each run.

The webhook fails open (failurePolicy: Ignore): when it cannot answer, Pods
are admitted with their images unchanged. It skips kube-system, its own
namespace, and namespaces and Pods labelled ` + install.OptOutLabel + `=` + install.OptOutValue + `.

The Deployment runs kmirror serve with --review-budget 2s, inside the
webhook's timeoutSeconds of 3. With --swap-policy exists it checks that the
mirror holds an image before it sends a Pod there (--check-timeout 1s), and
with --copy-missing copies what the mirror lacks; --registry-secret mounts
the credentials it needs from a Secret you create. The rules are reread
when the ConfigMap changes: applying new rules does not restart the Pods,
and a new certificate does.

With --webhook-url and --ca-file, only the MutatingWebhookConfiguration is
printed, pointing at a kmirror serve that runs outside the cluster.`,
		Example: `  kmirror manifests | kubectl apply -f -
  kmirror manifests --rules my-rules.yaml --image registry.example.com/kmirror:v1.0.0 | kubectl apply -f -
  kubectl create secret docker-registry mirror-creds -n kmirror-system --docker-server=mirror.example.com --docker-username=bot --docker-password=...
  kmirror manifests --swap-policy exists --copy-missing --registry-secret mirror-creds | kubectl apply -f -
  kmirror manifests --webhook-url https://203.0.113.7:8443/mutate --ca-file ca.crt | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(cmd.Flags()); err != nil {
				return err
			}
			opts, err := o.install()
			if err != nil {
				return err
			}
			objects, err := install.Objects(opts)
			if err != nil {
				return err
			}
			return install.Write(cmd.OutOrStdout(), objects)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// install reads the files the flags name.
func (o *ManifestsOptions) install() (install.Options, error) {
	if o.WebhookURL != "" {
		ca, err := os.ReadFile(o.CAFile)
		if err != nil {
			return install.Options{}, fmt.Errorf("reading the CA: %w", err)
		}
		return install.Options{WebhookURL: o.WebhookURL, CABundle: ca, SwapPolicy: o.SwapPolicy, CopyMissing: o.CopyMissing}, nil
	}
	eng, err := o.Engine()
	if err != nil {
		return install.Options{}, err
	}
	data, err := rules.Encode(eng.Rules())
	if err != nil {
		return install.Options{}, err
	}
	return install.Options{Namespace: o.Namespace, Image: o.Image, Rules: data,
		SwapPolicy: o.SwapPolicy, CopyMissing: o.CopyMissing, RegistrySecret: o.RegistrySecret}, nil
}

// imageTag is the tag of the image of this kmirror: its version when it is
// a release, else latest.
func imageTag() string {
	if v := version(); strings.HasPrefix(v, "v") && !strings.Contains(v, "dirty") {
		return v
	}
	return "latest"
}
