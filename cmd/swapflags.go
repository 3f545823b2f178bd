package cmd

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/pkg/admission/install"
	"kmirror.dev/kmirror/pkg/mirrorcheck"
	"kmirror.dev/kmirror/pkg/mirrorsync"
	"kmirror.dev/kmirror/pkg/registry"
)

// SwapOptions are the flags of kmirror serve that decide whether an image
// the rules mirror is sent to the mirror: always, or only when the mirror
// holds it, copying it there when it does not.
type SwapOptions struct {
	Policy         string
	CheckTimeout   time.Duration
	ReviewBudget   time.Duration
	PresentTTL     time.Duration
	MissingTTL     time.Duration
	OnCheckError   string
	CopyMissing    bool
	CopyQueue      int
	CopyWorkers    int
	CopyTimeout    time.Duration
	RegistryConfig string
	PlainHTTP      []string
	ECR            ECROptions
}

// AddFlags registers the flags.
func (o *SwapOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Policy, "swap-policy", install.SwapAlways, `"always": send every image the rules mirror to the mirror; "exists": only when the mirror holds it, checked with a HEAD request, else leave it as written, with a warning`)
	fs.DurationVar(&o.CheckTimeout, "check-timeout", mirrorcheck.DefaultTimeout, "with --swap-policy exists: the time limit of each check of the mirror")
	fs.DurationVar(&o.ReviewBudget, "review-budget", admission.DefaultReviewBudget, "the time a review may take from its arrival to its answer, waiting for memory or for the mirror's answers; keep it well inside the webhook's timeoutSeconds (3s in kmirror manifests)")
	fs.DurationVar(&o.PresentTTL, "present-ttl", mirrorcheck.DefaultPresentTTL, "with --swap-policy exists: how long an image found in the mirror is remembered; 0 remembers none")
	fs.DurationVar(&o.MissingTTL, "missing-ttl", mirrorcheck.DefaultMissingTTL, "with --swap-policy exists: how long an image found missing is remembered; 0 remembers none")
	fs.StringVar(&o.OnCheckError, "on-check-error", string(admission.FromSource), `with --swap-policy exists: where an image goes when the mirror cannot be checked (a timeout, 5xx, 401, 403): "source" leaves it as written, "mirror" sends it to the mirror all the same`)
	fs.BoolVar(&o.CopyMissing, "copy-missing", false, "with --swap-policy exists: copy each image found missing into the mirror, in the background, as kmirror sync does; the next Pod gets the mirror once it is there")
	fs.IntVar(&o.CopyQueue, "copy-queue", 1000, "with --copy-missing: how many images may wait to be copied; more are not queued")
	fs.IntVar(&o.CopyWorkers, "copy-workers", 4, "with --copy-missing: how many images are copied at once")
	fs.DurationVar(&o.CopyTimeout, "copy-timeout", mirrorsync.DefaultCopyTimeout, "with --copy-missing: the time limit of each copy; one not done by then fails, and is tried again later")
	fs.StringVar(&o.RegistryConfig, "registry-config", "", "with --swap-policy exists: a Docker config file (the .dockerconfigjson of a kubernetes.io/dockerconfigjson Secret) with the credentials of the mirror, and of the sources for --copy-missing; default: the Docker config, as kmirror sync reads it")
	fs.StringArrayVar(&o.PlainHTTP, "plain-http", nil, "with --swap-policy exists: a registry (host[:port]) to reach over plain HTTP instead of HTTPS; repeatable")
	o.ECR.AddFlags(fs, true)
}

// Validate checks that the flags go together.
func (o *SwapOptions) Validate(fs *pflag.FlagSet) error {
	switch o.Policy {
	case install.SwapAlways:
		for _, name := range []string{"check-timeout", "present-ttl", "missing-ttl", "on-check-error", "copy-missing", "registry-config", "plain-http", "ecr", "ecr-region"} {
			if fs.Changed(name) {
				return fmt.Errorf("--%s needs --swap-policy exists", name)
			}
		}
	case install.SwapExists:
	default:
		return fmt.Errorf("--swap-policy must be always or exists, not %q", o.Policy)
	}
	if !o.CopyMissing {
		for _, name := range []string{"copy-queue", "copy-workers", "copy-timeout", "create-repositories", "ecr-repository-settings"} {
			if fs.Changed(name) {
				return fmt.Errorf("--%s needs --copy-missing", name)
			}
		}
	}
	switch {
	case o.OnCheckError != string(admission.FromSource) && o.OnCheckError != string(admission.ToMirror):
		return fmt.Errorf("--on-check-error must be source or mirror, not %q", o.OnCheckError)
	case o.ReviewBudget <= 0:
		return fmt.Errorf("--review-budget must be positive, not %s", o.ReviewBudget)
	case o.CheckTimeout <= 0:
		return fmt.Errorf("--check-timeout must be positive, not %s", o.CheckTimeout)
	case o.CheckTimeout > o.ReviewBudget:
		return fmt.Errorf("--check-timeout %s is longer than --review-budget %s: no check could finish within a review", o.CheckTimeout, o.ReviewBudget)
	case o.PresentTTL < 0 || o.MissingTTL < 0:
		return errors.New("--present-ttl and --missing-ttl must not be negative")
	case o.CopyQueue < 1 || o.CopyWorkers < 1:
		return errors.New("--copy-queue and --copy-workers must be at least 1")
	case o.CopyTimeout <= 0:
		return fmt.Errorf("--copy-timeout must be positive, not %s", o.CopyTimeout)
	}
	return o.ECR.Validate()
}

// Swap makes the swap step of the flags, nil for --swap-policy always, and
// returns what stops it: the copies in flight are abandoned.
func (o *SwapOptions) Swap(log *slog.Logger, metrics *admission.Metrics) (*admission.Swap, func(), error) {
	if o.Policy != install.SwapExists {
		return nil, func() {}, nil
	}
	if o.RegistryConfig != "" {
		if _, err := registry.ReadConfig(o.RegistryConfig); err != nil {
			return nil, nil, fmt.Errorf("--registry-config: %w", err)
		}
	}
	// A check has a second; one quick retry fits in it. Checks and copies
	// share the ECR client, and with it the tokens.
	ro, err := o.ECR.Apply(registry.Options{ConfigFile: o.RegistryConfig, PlainHTTP: o.PlainHTTP, UserAgent: "kmirror/" + version()})
	if err != nil {
		return nil, nil, err
	}
	checkOpts := ro
	checkOpts.Retry = registry.Retry{Attempts: 2, Wait: 100 * time.Millisecond, MaxWait: o.CheckTimeout}
	checks, err := registry.New(checkOpts)
	if err != nil {
		return nil, nil, err
	}
	checker := mirrorcheck.New(checks.NewProber(0, 0), mirrorcheck.Options{
		Timeout: o.CheckTimeout, PresentTTL: o.PresentTTL, MissingTTL: o.MissingTTL,
		FailedTTL: min(mirrorcheck.DefaultFailedTTL, o.MissingTTL),
		Metrics:   mirrorcheck.NewMetrics(metrics.Registry),
	})
	swap := &admission.Swap{Mirror: checker, OnError: admission.OnCheckError(o.OnCheckError), Budget: o.ReviewBudget}
	if !o.CopyMissing {
		return swap, func() {}, nil
	}
	// Copies have a client of their own, with connections of their own.
	copies, err := registry.New(ro)
	if err != nil {
		return nil, nil, err
	}
	q := mirrorsync.NewQueue(copies, mirrorsync.QueueOptions{
		Size: o.CopyQueue, Workers: o.CopyWorkers, CopyTimeout: o.CopyTimeout, Log: log,
		Metrics: mirrorsync.NewQueueMetrics(metrics.Registry),
		Done: func(r mirrorsync.Result) {
			if r.Err == nil {
				checker.SetPresent(r.Target)
			}
		},
	})
	swap.Copies = q
	stop := func() {
		if abandoned, forgotten := q.Close(); abandoned+forgotten > 0 {
			log.Info("stopped copying into the mirror", "abandoned", abandoned, "notStarted", forgotten)
		}
	}
	return swap, stop, nil
}
