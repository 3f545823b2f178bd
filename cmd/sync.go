package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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
	Images      []string
	Platforms   []string
	DryRun      bool
	Quiet       bool
	Output      string
	CopyTimeout time.Duration
	Referrers   bool
	// Shard is "I/N": copy only shard I of N of the pairs.
	Shard string
	// MergeReports reads the -o json reports named by the arguments,
	// instead of copying.
	MergeReports bool

	platforms []v1.Platform
	shard     mirrorsync.Shard
}

// AddFlags registers the sync flags.
func (o *SyncOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	o.ColorOptions.AddFlags(fs)
	o.RegistryOptions.AddFlags(fs, 4, "how many images to copy at once (the layers of each go in parallel too)")
	o.ECR.AddFlags(fs, true)
	fs.StringArrayVar(&o.Images, "images", nil, `a file listing source images, one per line, as "kmirror images -o mirror-list" writes it ("-" for stdin); repeatable`)
	fs.StringSliceVar(&o.Platforms, "platform", nil, "copy only these platforms of each index, os/arch[/variant][,...]; makes a new index digest")
	fs.BoolVar(&o.DryRun, "dry-run", false, "check every image and list what would be copied; copy nothing")
	fs.DurationVar(&o.CopyTimeout, "copy-timeout", mirrorsync.DefaultCopyTimeout, "the time limit of each image, its checks and its copy; an image not done by then fails")
	fs.BoolVar(&o.Referrers, "referrers", true, "also copy the signatures, attestations and SBOMs attached to each image: OCI 1.1 referrers and cosign's sha256-<digest>.sig, .att and .sbom tags")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "print only errors")
	fs.StringVarP(&o.Output, "output", "o", "text", "format of the report on stdout: text or json")
	fs.StringVar(&o.Shard, "shard", "", "copy only shard I of N of the images, INDEX/COUNT from 0/N to N-1/N; the N shards of one list share it out by target repository, each image in one shard")
	fs.BoolVar(&o.MergeReports, "merge-reports", false, "copy nothing: join the -o json reports in the files named as arguments (the shards of one run, one or more reports a file) into one summary, with its exit status")
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
	if o.CopyTimeout <= 0 {
		return fmt.Errorf("--copy-timeout must be positive, not %s", o.CopyTimeout)
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
	o.shard = mirrorsync.Shard{}
	if o.Shard != "" {
		s, err := mirrorsync.ParseShard(o.Shard)
		if err != nil {
			return fmt.Errorf("--shard: %w", err)
		}
		o.shard = s
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
by its digest, and tagged only when the source's tag names that digest
now: a manifest that pins an old digest never moves the mirror's tag back.
Each image must be done within --copy-timeout, and a transfer that stops
(no answer within 30s, no byte for 60s) fails.

--platform copies a subset of each index as a new index, whose digest is
not the source's; a digest-pinned image is refused with --platform, since
the mirror could not hold its digest.

With each image, sync copies what is attached to it and to the images of
an index (--referrers, the default): OCI 1.1 referrers, such as an SBOM or
a signature, and cosign's sha256-<digest>.sig, .att and .sbom tags, with
their digests, so that signatures verify in the mirror. A registry without
the referrers API (distribution 2.8) is read and written through the OCI
fallback tag sha256-<digest>, as cosign and oras do; what the mirror
already lists is skipped.

Credentials come from the Docker config ($DOCKER_CONFIG/config.json or
~/.docker/config.json, credential helpers included), as docker, crane and
helm read it; TLS trust from the system pool (SSL_CERT_FILE works).
Requests answered 429 or 5xx, and connection errors, are retried with
exponential backoff, waiting as long as a Retry-After asks (up to 60s).

Pairs that would write one tag in the mirror from images of different
digests are a conflict: they fail before anything is copied.

--shard I/N copies shard I of N of the pairs, shared out by target
repository, so that N processes (the Pods of the Job of "kmirror manifests
--sync-job") copy each pair once between them. --merge-reports FILE...
copies nothing: it joins their -o json reports into one summary, exiting 1
when a pair of any shard failed or was interrupted, and 2 when a shard has
no report.

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
  helm template my-release ./chart | kmirror sync -o json > sync.json

  # One list, three processes, one summary
  for i in 0 1 2; do kmirror sync --images images.txt --shard $i/3 -o json > shard-$i.json & done; wait
  kmirror sync --merge-reports shard-*.json`,
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
	if o.MergeReports {
		return o.merge(cmd, args)
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
	pairs := o.shard.Select(plan.Pairs())
	if !o.shard.Whole() && !o.Quiet {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s shard %s holds %d of the %d %s\n", warnColor.Sprint("note:"), o.shard, len(pairs), len(plan.Pairs()), plural(len(plan.Pairs()), "image"))
	}
	ctx := cmd.Context() // cobra's Execute sets one
	progress := newSyncProgress(cmd.ErrOrStderr(), len(pairs), o.DryRun, o.Quiet)
	results := mirrorsync.Run(ctx, client, pairs, mirrorsync.Options{
		Jobs: o.Jobs, DryRun: o.DryRun, Platforms: o.platforms, Observer: progress, CopyTimeout: o.CopyTimeout, Referrers: o.Referrers,
	})
	progress.Wait()
	rep := mirrorsync.NewReport(results, o.DryRun, o.shard)
	if err := o.report(cmd, rep); err != nil {
		return err
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(cmd.ErrOrStderr(), "kmirror: interrupted; no tag names an image that was not copied whole")
		return &ExitError{Code: exitInterrupted}
	case rep.Summary.Failed > 0:
		return &ExitError{Code: 1}
	}
	return nil
}

// mergeFlags are the flags that --merge-reports has no use for.
var mergeFlags = []string{"images", "shard", "dry-run", "platform", "rules", "plain-http", "jobs"}

// merge joins the reports in the files of args into one, and exits 1 when
// a pair of any shard is not in the mirror.
func (o *SyncOptions) merge(cmd *cobra.Command, args []string) error {
	for _, name := range mergeFlags {
		if cmd.Flags().Changed(name) {
			return fmt.Errorf("--%s has no effect with --merge-reports, which copies nothing", name)
		}
	}
	if len(args) == 0 {
		return errors.New("--merge-reports: name the report files (- for stdin)")
	}
	var reports []mirrorsync.Report
	for _, name := range args {
		r, closer, err := openInput(cmd, name, "the report")
		if err != nil {
			return err
		}
		reps, skipped, err := mirrorsync.ReadReports(r, name)
		closer()
		if err != nil {
			return err
		}
		if !o.Quiet {
			for _, line := range skipped {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s not a report, skipped: %s\n", warnColor.Sprint("note:"), line)
			}
		}
		reports = append(reports, reps...)
	}
	rep, err := mirrorsync.MergeReports(reports)
	if err != nil {
		return fmt.Errorf("merging the reports: %w", err)
	}
	if err := o.report(cmd, rep); err != nil {
		return err
	}
	if rep.Summary.Failed+rep.Summary.Interrupted > 0 {
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
		r, closer, err := openInput(cmd, name, "the image list")
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

// openInput opens the file name, what it is for messages; "-" is stdin.
func openInput(cmd *cobra.Command, name, what string) (io.Reader, func(), error) {
	if name == "-" {
		return cmd.InOrStdin(), func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return f, func() { f.Close() }, nil
}

// report writes rep to stdout: the -o json document, or the summary and
// the failures; with -q, only the failures, on stderr.
func (o *SyncOptions) report(cmd *cobra.Command, rep mirrorsync.Report) error {
	if o.Output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if o.Quiet {
		for _, img := range rep.Images {
			if img.Status == mirrorsync.Failed {
				fmt.Fprintf(cmd.ErrOrStderr(), "kmirror: %s -> %s: %s\n", img.Source, img.Target, img.Error)
			}
		}
		return nil
	}
	var b strings.Builder
	sum := rep.Summary
	if rep.DryRun {
		for _, img := range rep.Images {
			if img.Status == mirrorsync.WouldCopy {
				fmt.Fprintf(&b, "would copy %s -> %s\n", img.Source, img.Target)
			}
		}
		fmt.Fprintf(&b, "would copy %d, already present %d, failed %d", sum.WouldCopy, sum.Present, sum.Failed)
	} else {
		fmt.Fprintf(&b, "copied %d %s (%s), already present %d, failed %d",
			sum.Copied, plural(sum.Copied, "image"), formatBytes(sum.Bytes), sum.Present, sum.Failed)
	}
	if sum.Interrupted > 0 {
		fmt.Fprintf(&b, ", not done (interrupted) %d", sum.Interrupted)
	}
	if r := sum.Referrers; r.Copied+r.Present > 0 {
		fmt.Fprintf(&b, "; referrers: copied %d, already present %d", r.Copied, r.Present)
	}
	b.WriteByte('\n')
	for _, img := range rep.Images {
		switch {
		case img.Status == mirrorsync.Failed:
			fmt.Fprintf(&b, "%s %s -> %s: %s\n", oldColor.Sprint("failed:"), img.Source, img.Target, img.Error)
		case img.DigestOnly:
			fmt.Fprintf(&b, "%s %s -> %s: %s\n", warnColor.Sprint("by digest only:"), img.Source, img.Target, digestOnlyWhy)
		}
	}
	_, err := io.WriteString(cmd.OutOrStdout(), b.String())
	return err
}

// digestOnlyWhy says why a tag+digest image was copied without its tag.
const digestOnlyWhy = "the source's tag names another digest now, so the mirror's tag is left as it was"

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
