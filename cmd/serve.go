package cmd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/admission"
	"kmirror.dev/kmirror/rules"
)

// ServeOptions are the flags of "kmirror serve".
type ServeOptions struct {
	RulesOptions
	LogOptions
	SwapOptions
	Addr          string
	MetricsAddr   string
	CertFile      string
	KeyFile       string
	ShutdownDelay time.Duration
}

// AddFlags registers the serve flags.
func (o *ServeOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	o.LogOptions.AddFlags(fs)
	o.SwapOptions.AddFlags(fs)
	fs.StringVar(&o.Addr, "addr", ":8443", "address of the HTTPS listener for /mutate, /healthz and /readyz")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "", `address of the plain HTTP listener for Prometheus /metrics, e.g. ":9090"; off when empty`)
	fs.StringVar(&o.CertFile, "tls-cert-file", "", "serving certificate (PEM), reloaded when the file changes")
	fs.StringVar(&o.KeyFile, "tls-key-file", "", "private key of the serving certificate (PEM), reloaded when the file changes")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "on SIGTERM, how long /readyz fails before the listener closes, so that load balancers stop sending requests first")
}

// Validate checks that the flags go together.
func (o *ServeOptions) Validate(fs *pflag.FlagSet) error {
	if o.CertFile == "" || o.KeyFile == "" {
		return errors.New("--tls-cert-file and --tls-key-file are required: the webhook serves HTTPS only")
	}
	if o.ShutdownDelay < 0 {
		return fmt.Errorf("--shutdown-delay must not be negative, not %s", o.ShutdownDelay)
	}
	if err := o.SwapOptions.Validate(fs); err != nil {
		return err
	}
	return o.LogOptions.Validate()
}

// NewCmdServe returns "kmirror serve".
func NewCmdServe() *cobra.Command {
	o := &ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the mutating admission webhook",
		Long: `Serve runs kmirror as a mutating admission webhook over HTTPS. The API server
POSTs AdmissionReviews (admission.k8s.io/v1 or v1beta1) to /mutate; kmirror
answers with a JSON patch that points each image at the mirror, decided by
the same engine as "kmirror rewrite". /healthz and /readyz are served on the
same listener, Prometheus metrics on --metrics-addr. Unless GOMEMLIMIT is set,
it runs with a soft memory limit of 128 MiB.

The certificate and key, and a rules file (not a preset), are reread every
10s and used from the next handshake or review on, without a restart; a
file that does not load keeps what is in use, and is logged and counted.
On SIGTERM or Ctrl-C, requests in flight are finished, for up to 15s, before
kmirror exits 0. Requests still running after 15s, or at a second signal,
are cut, and kmirror exits 2; copies into the mirror in flight are abandoned.

With --swap-policy exists, an image the rules mirror goes to the mirror only
when the mirror holds it: each distinct image is checked with a HEAD request
(--check-timeout each, all of a Pod's at once, the whole review within
--review-budget), and the answer is remembered (--present-ttl, --missing-ttl;
a failed check for 5s at most). An image the mirror lacks stays as written,
so the Pod pulls it from its source, and the answer carries a warning that
kubectl prints: "kmirror: <mirror image> is not in the mirror yet; <image> is
pulled from its source". With --copy-missing it is also copied into the
mirror in the background, as kmirror sync copies (a tag is written only to
the digest the source's tag names, each copy within --copy-timeout), and
the next Pod gets the mirror; a copy given up is not tried again for a
minute, then longer. When the check fails, --on-check-error decides, with
a warning that says which.

A review over kmirror's limits (a body over 7 MiB, more than 100,000 JSON
values, nesting deeper than 32, more than 1,000 keys named image in an object,
an image at a path over 256 bytes) is answered 413, and one that finds no room
among the reviews in flight within 2s (or --review-budget, when shorter) is
answered 503: the API server then applies the webhook's failure policy.

"kmirror manifests" prints what a cluster needs to run it.`,
		Example: `  kmirror serve --tls-cert-file tls.crt --tls-key-file tls.key
  kmirror serve --addr 127.0.0.1:8443 --metrics-addr 127.0.0.1:9090 \
    --tls-cert-file tls.crt --tls-key-file tls.key --rules my-rules.yaml
  kmirror serve --tls-cert-file tls.crt --tls-key-file tls.key \
    --swap-policy exists --copy-missing --registry-config /etc/kmirror/registry/config.json`,
		Args: cobra.NoArgs,
		RunE: o.Run,
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Run serves until the command's context is done.
func (o *ServeOptions) Run(cmd *cobra.Command, _ []string) error {
	if err := o.Validate(cmd.Flags()); err != nil {
		return err
	}
	setGCPercent()
	setMemoryLimit()
	logOut := admission.NewBatchWriter(cmd.ErrOrStderr())
	defer logOut.Close()
	log := o.Logger(logOut)
	metrics := admission.NewMetrics()
	certs, err := admission.NewCertWatcher(o.CertFile, o.KeyFile, log, metrics)
	if err != nil {
		return err
	}
	h := &admission.Handler{Log: log, Metrics: metrics, WaitTimeout: min(admission.DefaultWaitTimeout, o.ReviewBudget), NoInfer: o.NoInfer}
	rulesWatcher, err := o.loadRules(h, log, metrics)
	if err != nil {
		return err
	}
	swap, stopCopies, err := o.Swap(log, metrics)
	if err != nil {
		return err
	}
	defer stopCopies()
	h.Swap = swap
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	var metricsLn net.Listener
	if o.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", o.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
	}
	srv := &admission.Server{
		Mutate:        h,
		Certs:         certs,
		Rules:         rulesWatcher,
		Metrics:       metrics,
		Log:           log,
		ShutdownDelay: o.ShutdownDelay,
		Abort:         Aborted(cmd.Context()),
	}
	rulesArg := o.Rules
	if rulesArg == "" {
		rulesArg = rules.Default
	}
	log.Info("starting", "version", version(), "rules", rulesArg, "swapPolicy", o.Policy, "copyMissing", o.CopyMissing)
	return srv.Serve(cmd.Context(), ln, metricsLn)
}

// loadRules gives h the rules of --rules, and returns the watcher that
// rereads a rules file; a preset is never reread.
func (o *ServeOptions) loadRules(h *admission.Handler, log *slog.Logger, metrics *admission.Metrics) (*admission.RulesWatcher, error) {
	if o.Rules != "" {
		if fi, err := os.Stat(o.Rules); err == nil && !fi.IsDir() {
			return admission.NewRulesWatcher(o.Rules, h, log, metrics)
		}
	}
	// The handler applies --no-infer, to these rules and to those a
	// watcher rereads.
	eng, err := rules.Load(o.Rules)
	if err != nil {
		return nil, err
	}
	for _, msg := range eng.Warnings() {
		log.Warn("rules", "rules", o.Rules, "warning", msg)
	}
	h.SetEngine(eng)
	return nil, nil
}

// servingGCPercent is the GOGC of kmirror serve unless the environment sets
// one.
const servingGCPercent = 400

// setGCPercent tunes the garbage collector for serving. The webhook's live
// heap is a few MB, and at the default GOGC=100 the collector runs each
// time a few MB are allocated: a hundred times a second under load, for a
// quarter of the CPU. At 400 the heap grows to a few tens of MB between
// collections. GOGC and GOMEMLIMIT in the environment still apply.
func setGCPercent() { tuneGC(servingGCPercent) }

// setMemoryLimit makes the garbage collector work harder as the heap nears
// admission.MemoryLimit, unless the environment sets GOMEMLIMIT. At
// GOGC=400 a live heap of 40 MB would otherwise grow to 200 MB before a
// collection; the reviews in flight hold at most 64 MiB, so the limit is
// reached by garbage, which the collector can free.
func setMemoryLimit() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(admission.MemoryLimit)
	}
}

// LogOptions select the format and level of structured logs.
type LogOptions struct {
	LogFormat string
	LogLevel  string
	level     slog.Level
}

// AddFlags registers --log-format and --log-level.
func (o *LogOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&o.LogLevel, "log-level", "info", "least level logged: debug, info, warn or error")
}

// Validate checks the format and the level.
func (o *LogOptions) Validate() error {
	if o.LogFormat != "json" && o.LogFormat != "text" {
		return fmt.Errorf("--log-format must be json or text, not %q", o.LogFormat)
	}
	if err := o.level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level must be debug, info, warn or error, not %q", o.LogLevel)
	}
	return nil
}

// Logger returns a logger that writes to w.
func (o *LogOptions) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: o.level}
	if o.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
