package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/mirrorsync"
	"kmirror.dev/kmirror/pkg/scan"
)

// exitInterrupted is the exit status after Ctrl-C, as a shell reports a
// process that SIGINT ended.
const exitInterrupted = 130

// SyncOptions are the flags of "kmirror sync".
type SyncOptions struct {
	RulesOptions
	ColorOptions
	RegistryOptions
	Images    []string
	Platforms []string
	DryRun    bool
	Quiet     bool
	Output    string

	platforms []v1.Platform
}

// AddFlags registers the sync flags.
func (o *SyncOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	o.ColorOptions.AddFlags(fs)
	o.RegistryOptions.AddFlags(fs, 4, "how many images to copy at once (the layers of each go in parallel too)")
	fs.StringArrayVar(&o.Images, "images", nil, `a file listing source images, one per line, as "kmirror images -o mirror-list" writes it ("-" for stdin); repeatable`)
	fs.StringSliceVar(&o.Platforms, "platform", nil, "copy only these platforms of each index, os/arch[/variant][,...]; makes a new index digest")
	fs.BoolVar(&o.DryRun, "dry-run", false, "check every image and list what would be copied; copy nothing")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "print only errors")
	fs.StringVarP(&o.Output, "output", "o", "text", "format of the report on stdout: text or json")
}

// Validate checks that the flags and arguments go together.
func (o *SyncOptions) Validate(args []string) error {
	if err := o.ColorOptions.Validate(); err != nil {
		return err
	}
	if err := o.RegistryOptions.Validate(); err != nil {
		return err
	}
	if o.Output != "text" && o.Output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", o.Output)
	}
	stdin := 0
	for _, f := range o.Images {
		if f == "-" {
			stdin++
		}
	}
	for _, a := range args {
		if a == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return errors.New(`stdin ("-") can be read once: as manifests or as an --images list, not both`)
	}
	o.platforms = nil
	for _, s := range o.Platforms {
		p, err := v1.ParsePlatform(s)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return fmt.Errorf("--platform %q is not os/arch[/variant]", s)
		}
		o.platforms = append(o.platforms, *p)
	}
	return nil
}

// NewCmdSync returns "kmirror sync".
func NewCmdSync() *cobra.Command {
	o := &SyncOptions{}
	cmd := &cobra.Command{
		Use:   "sync [PATH|-]... [--images FILE]",
		Short: "Copy the images that manifests will pull from the mirror into it",
		Long: `Sync copies into the mirror the images that the rules send there, so that
what "kmirror rewrite" points at exists. It reads manifests as "kmirror
rewrite" does (files, directories, stdin) and decides every image with the
same rules: each image the rules mirror gives a pair (the source as
written, the mirror image). Escaped images, images no rule covers, and
images already under a mirror are not copied. --images adds the images of
a list (one per line, "#" comments), as "kmirror images -o mirror-list"
writes it; each pair is handled once.

For each pair, sync first compares the source and the mirror with HEAD
requests (which do not count against Docker Hub's pull limit) and skips the
pair when the mirror holds the source's digest. Otherwise it copies the
image whole: an index with all its platform images, manifests byte for
byte, so every digest is the same in the mirror. Layers go in parallel,
straight from the source to the mirror; blobs the mirror holds are not sent
again, and blobs this run put in another repository of the mirror are
mounted from there. The tag is written last, so no tag ever names a
half-copied image, even after Ctrl-C. A "repo:tag@digest" image is copied
by its digest and tagged.

--platform copies a subset of each index as a new index, whose digest is
not the source's; a digest-pinned image is refused with --platform, since
the mirror could not hold its digest.

Credentials come from the Docker config ($DOCKER_CONFIG/config.json or
~/.docker/config.json, credential helpers included), as docker, crane and
helm read it; TLS trust from the system pool (SSL_CERT_FILE works).
Requests answered 429 or 5xx, and connection errors, are retried with
exponential backoff, waiting as long as a Retry-After asks (up to 60s).

On a terminal, progress shows as bars; otherwise one line per image on
stderr. The summary (or the -o json report) goes to stdout.

Exit status: 0 every image is in the mirror (or, with --dry-run, could be
checked), 1 some image failed (the others are still copied), 2 trouble
(rules, manifests, flags), 130 interrupted.`,
		Example: `  # Fill the mirror, then point the manifests at it
  kmirror sync deploy/ && kmirror rewrite -i deploy/

  # What would be copied?
  kmirror sync --dry-run --rules my-rules.yaml deploy/

  # From a list, only two platforms, eight images at once
  kmirror images -o mirror-list deploy/ > images.txt
  kmirror sync --images images.txt --platform linux/amd64,linux/arm64 --jobs 8

  # A chart's images, with a report for the pipeline
  helm template my-release ./chart | kmirror sync -o json > sync.json`,
		RunE: o.Run,
	}
	o.AddFlags(cmd.Flags())
	_ = cmd.MarkFlagFilename("images")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Run copies the images of the inputs named by args and --images.
func (o *SyncOptions) Run(cmd *cobra.Command, args []string) error {
	if err := o.Validate(args); err != nil {
		return err
	}
	eng, err := o.Load(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	plan, err := o.plan(cmd, args, eng)
	if err != nil {
		return err
	}
	client, err := o.Client()
	if err != nil {
		return err
	}
	ctx := cmd.Context() // cobra's Execute sets one
	progress := newSyncProgress(cmd.ErrOrStderr(), len(plan.Pairs()), o.DryRun, o.Quiet)
	results := mirrorsync.Run(ctx, client, plan.Pairs(), mirrorsync.Options{
		Jobs: o.Jobs, DryRun: o.DryRun, Platforms: o.platforms, Observer: progress,
	})
	progress.Wait()
	sum := mirrorsync.Summarize(results)
	if err := o.report(cmd, results, sum); err != nil {
		return err
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(cmd.ErrOrStderr(), "kmirror: interrupted; no tag names an image that was not copied whole")
		return &ExitError{Code: exitInterrupted}
	case sum.Failed > 0:
		return &ExitError{Code: 1}
	}
	return nil
}

// plan reads the manifests of args (unless only lists are given) and the
// lists of --images.
func (o *SyncOptions) plan(cmd *cobra.Command, args []string, eng *mirror.Engine) (*mirrorsync.Plan, error) {
	plan := &mirrorsync.Plan{}
	if len(args) == 0 && len(o.Images) == 0 && isTerminal(cmd.InOrStdin()) {
		return nil, errors.New("nothing to read: name files or directories, pipe manifests in, or give --images")
	}
	if len(args) > 0 || len(o.Images) == 0 {
		sum, err := scan.Images(cmd.Context(), scan.Inputs{Stdin: cmd.InOrStdin(), Args: args}, eng, func(img manifest.Image) error {
			plan.AddImage(img)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if !o.Quiet {
			printWarnings(cmd.ErrOrStderr(), sum.Warnings)
		}
	}
	for _, name := range o.Images {
		r, closer, err := openList(cmd, name)
		if err != nil {
			return nil, err
		}
		skipped, err := plan.ReadList(r, name, eng)
		closer()
		if err != nil {
			return nil, err
		}
		if !o.Quiet {
			for _, s := range skipped {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s %s\n", warnColor.Sprint("note:"), s)
			}
		}
	}
	return plan, nil
}

func openList(cmd *cobra.Command, name string) (io.Reader, func(), error) {
	if name == "-" {
		return cmd.InOrStdin(), func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the image list: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// syncReport is the -o json document.
type syncReport struct {
	DryRun  bool               `json:"dryRun"`
	Summary mirrorsync.Summary `json:"summary"`
	Images  []syncImage        `json:"images"`
}

type syncImage struct {
	mirrorsync.Pair
	Status  mirrorsync.Status `json:"status"`
	Digest  string            `json:"digest,omitempty"`
	Bytes   int64             `json:"bytes"`
	Seconds float64           `json:"seconds"`
	Error   string            `json:"error,omitempty"`
}

func (o *SyncOptions) report(cmd *cobra.Command, results []mirrorsync.Result, sum mirrorsync.Summary) error {
	if o.Output == "json" {
		rep := syncReport{DryRun: o.DryRun, Summary: sum, Images: []syncImage{}}
		for _, r := range results {
			img := syncImage{Pair: r.Pair, Status: r.Status, Digest: r.Digest, Bytes: r.Bytes, Seconds: r.Duration.Seconds()}
			if r.Err != nil {
				img.Error = failure(r.Err)
			}
			rep.Images = append(rep.Images, img)
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if o.Quiet {
		for _, r := range results {
			if r.Status == mirrorsync.Failed {
				fmt.Fprintf(cmd.ErrOrStderr(), "kmirror: %s -> %s: %s\n", r.Source, r.Target, failure(r.Err))
			}
		}
		return nil
	}
	var b strings.Builder
	interrupted := sum.Canceled
	if o.DryRun {
		for _, r := range results {
			if r.Status == mirrorsync.WouldCopy {
				fmt.Fprintf(&b, "would copy %s -> %s\n", r.Source, r.Target)
			}
		}
		fmt.Fprintf(&b, "would copy %d, already present %d, failed %d", sum.WouldCopy, sum.Present, sum.Failed-interrupted)
	} else {
		fmt.Fprintf(&b, "copied %d %s (%s), already present %d, failed %d",
			sum.Copied, plural(sum.Copied, "image"), formatBytes(sum.Bytes), sum.Present, sum.Failed-interrupted)
	}
	if interrupted > 0 {
		fmt.Fprintf(&b, ", not done (interrupted) %d", interrupted)
	}
	b.WriteByte('\n')
	for _, r := range results {
		if r.Status == mirrorsync.Failed && !errors.Is(r.Err, context.Canceled) {
			fmt.Fprintf(&b, "%s %s -> %s: %v\n", oldColor.Sprint("failed:"), r.Source, r.Target, r.Err)
		}
	}
	_, err := io.WriteString(cmd.OutOrStdout(), b.String())
	return err
}

// formatBytes writes n in decimal units, as the README's figures are.
func formatBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
