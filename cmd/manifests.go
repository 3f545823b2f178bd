package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/admission/install"
	ecrpkg "kmirror.dev/kmirror/pkg/ecr"
	"kmirror.dev/kmirror/pkg/mirrorsync"
	"kmirror.dev/kmirror/rules"
)

// DefaultImageRepository is the image the Deployment runs unless --image
// says otherwise; the tag is kmirror's version.
const DefaultImageRepository = "ghcr.io/kmirror/kmirror"

// ManifestsOptions are the flags of "kmirror manifests".
type ManifestsOptions struct {
	RulesOptions
	ManifestsAWSOptions
	Image          string
	Namespace      string
	WebhookURL     string
	CAFile         string
	SwapPolicy     string
	CopyMissing    bool
	RegistrySecret string
	// SyncJob prints the CronJob that runs kmirror sync, instead of the
	// webhook.
	SyncJob     bool
	Images      []string
	Shards      int
	Parallelism int
	Schedule    string
}

// AddFlags registers the manifests flags.
func (o *ManifestsOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	o.ManifestsAWSOptions.AddFlags(fs)
	fs.StringVar(&o.Image, "image", DefaultImageRepository+":"+imageTag(), "the kmirror image the Deployment runs")
	fs.StringVar(&o.Namespace, "namespace", install.DefaultNamespace, "the namespace the webhook runs in, which it never mutates")
	fs.StringVar(&o.WebhookURL, "webhook-url", "", "print only the webhook configuration, for a kmirror serve that runs outside the cluster at this https URL")
	fs.StringVar(&o.CAFile, "ca-file", "", "with --webhook-url: the CA (PEM) that signed the certificate of that kmirror serve")
	fs.StringVar(&o.SwapPolicy, "swap-policy", install.SwapAlways, `the --swap-policy of kmirror serve: "always", or "exists" to send an image to the mirror only when the mirror holds it`)
	fs.BoolVar(&o.CopyMissing, "copy-missing", false, "with --swap-policy exists: kmirror serve copies the images the mirror lacks into it (--copy-missing); the webhook then declares side effects, except on dry runs")
	fs.StringVar(&o.RegistrySecret, "registry-secret", "", "with --swap-policy exists: a Secret of type kubernetes.io/dockerconfigjson in --namespace (kubectl create secret docker-registry) with the credentials of the mirror, and of the sources for --copy-missing, mounted as kmirror serve's --registry-config; with --sync-job, the credentials of kmirror sync")
	fs.BoolVar(&o.SyncJob, "sync-job", false, "print a CronJob that runs kmirror sync over --images on a schedule, sharded over the Pods of an Indexed Job, instead of the webhook")
	fs.StringArrayVar(&o.Images, "images", nil, `with --sync-job: a file listing source images, one per line, as "kmirror images -o mirror-list" writes it ("-" for stdin); repeatable`)
	fs.IntVar(&o.Shards, "shards", 4, "with --sync-job: the shards the list is cut into, one Pod each (the Job's completions)")
	fs.IntVar(&o.Parallelism, "parallelism", 0, "with --sync-job: how many shards run at once (default: all)")
	fs.StringVar(&o.Schedule, "schedule", install.DefaultSchedule, "with --sync-job: when the CronJob runs, in cron syntax")
}

// syncFlags are the flags of the sync Job, and webhookFlags those that
// only the webhook has.
var (
	syncFlags    = []string{"images", "shards", "parallelism", "schedule"}
	webhookFlags = []string{"webhook-url", "ca-file", "swap-policy", "copy-missing"}
)

// Validate checks that the flags go together.
func (o *ManifestsOptions) Validate(fs *pflag.FlagSet) error {
	for _, name := range syncFlags {
		if fs.Changed(name) && !o.SyncJob {
			return fmt.Errorf("--%s is for the sync Job: add --sync-job", name)
		}
	}
	if o.SyncJob {
		for _, name := range webhookFlags {
			if fs.Changed(name) {
				return fmt.Errorf("--%s is for the webhook and has no effect with --sync-job", name)
			}
		}
		if len(o.Images) == 0 && o.IAMPolicy == "" {
			return errors.New("--sync-job needs --images, the list of images to copy")
		}
		// The ECR flags go to kmirror sync, which takes them all.
		return o.ECR.Validate()
	}
	if err := o.ManifestsAWSOptions.Validate(fs, o.SwapPolicy, o.CopyMissing); err != nil {
		return err
	}
	if (o.WebhookURL == "") != (o.CAFile == "") {
		return errors.New("--webhook-url and --ca-file go together")
	}
	if o.WebhookURL == "" {
		return nil
	}
	for _, name := range []string{"image", "rules", "namespace", "registry-secret", "service-account-annotation"} {
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
printed, pointing at a kmirror serve that runs outside the cluster.

With --sync-job, manifests prints instead what fills the mirror on a
schedule: a ServiceAccount, a ConfigMap with the --images list and the
rules, and a CronJob whose Job is an Indexed Job of --shards Pods,
--parallelism at once. Pod I runs "kmirror sync --shard I/N -o json -q",
so its log is its shard's report; "kmirror sync --merge-reports" joins
them. The Job succeeds when every shard did; a failed shard is run once
more. Credentials come from --registry-secret, or from the
ServiceAccount (IRSA).`,
		Example: `  kmirror manifests | kubectl apply -f -
  kmirror manifests --rules my-rules.yaml --image registry.example.com/kmirror:v1.0.0 | kubectl apply -f -
  kubectl create secret docker-registry mirror-creds -n kmirror-system --docker-server=mirror.example.com --docker-username=bot --docker-password=...
  kmirror manifests --swap-policy exists --copy-missing --registry-secret mirror-creds | kubectl apply -f -
  kmirror manifests --webhook-url https://203.0.113.7:8443/mutate --ca-file ca.crt | kubectl apply -f -
  kmirror images -o mirror-list deploy/ > images.txt
  kmirror manifests --sync-job --images images.txt --shards 8 --parallelism 4 --registry-secret mirror-creds | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(cmd.Flags()); err != nil {
				return err
			}
			if o.IAMPolicy != "" {
				if o.SyncJob && o.IAMPolicy == iamPolicyAuto {
					o.IAMPolicy = string(ecrpkg.ModeSync)
				}
				return o.writePolicy(cmd.OutOrStdout())
			}
			if o.SyncJob {
				return o.syncJob(cmd)
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
	opts := install.Options{Namespace: o.Namespace, Image: o.Image, Rules: data,
		SwapPolicy: o.SwapPolicy, CopyMissing: o.CopyMissing, RegistrySecret: o.RegistrySecret}
	return opts, o.ManifestsAWSOptions.apply(&opts)
}

// writePolicy writes the IAM policy of --iam-policy.
func (o *ManifestsOptions) writePolicy(w io.Writer) error {
	eng, err := o.Engine()
	if err != nil {
		return err
	}
	b, err := o.policy(eng, o.SwapPolicy, o.CopyMissing)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// syncJob prints the objects of the sync Job. The list is checked as
// kmirror sync will read it, so that a bad line fails here and not in
// every Pod.
func (o *ManifestsOptions) syncJob(cmd *cobra.Command) error {
	eng, err := o.Engine()
	if err != nil {
		return err
	}
	data, err := rules.Encode(eng.Rules())
	if err != nil {
		return err
	}
	var (
		list []byte
		plan mirrorsync.Plan
	)
	for _, name := range o.Images {
		r, closer, err := openInput(cmd, name, "the image list")
		if err != nil {
			return err
		}
		b, err := io.ReadAll(r)
		closer()
		if err != nil {
			return fmt.Errorf("reading the image list %s: %w", name, err)
		}
		skipped, err := plan.ReadList(bytes.NewReader(b), name, eng)
		if err != nil {
			return err
		}
		for _, s := range skipped {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %s\n", warnColor.Sprint("note:"), s)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
		list = append(list, b...)
	}
	if len(plan.Pairs()) == 0 {
		return errors.New("the image list holds no image that the rules send to the mirror")
	}
	// The ServiceAccount's annotations (IRSA) and the ECR flags apply to
	// the sync Job as to the webhook.
	opts := install.Options{Namespace: o.Namespace, Image: o.Image, Rules: data}
	if err := o.ManifestsAWSOptions.apply(&opts); err != nil {
		return err
	}
	if !o.ECR.CreateRepositories {
		opts.ECRArgs = append(opts.ECRArgs, "--create-repositories=false")
	}
	objects, err := install.SyncObjects(opts,
		install.SyncJob{Schedule: o.Schedule, List: list, Shards: o.Shards, Parallelism: o.Parallelism, RegistrySecret: o.RegistrySecret},
	)
	if err != nil {
		return err
	}
	return install.Write(cmd.OutOrStdout(), objects)
}

// imageTag is the tag of the image of this kmirror: its version when it is
// a release, else latest.
func imageTag() string {
	if v := version(); strings.HasPrefix(v, "v") && !strings.Contains(v, "dirty") {
		return v
	}
	return "latest"
}
