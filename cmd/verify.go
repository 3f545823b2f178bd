package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirrorsync"
	"kmirror.dev/kmirror/pkg/scan"
)

// VerifyOptions are the flags of "kmirror verify".
type VerifyOptions struct {
	RulesOptions
	ColorOptions
	RegistryOptions
	SameDigest bool
	Signed     bool
	Timeout    time.Duration
	Quiet      bool
	Output     string
}

// AddFlags registers the verify flags.
func (o *VerifyOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	o.ColorOptions.AddFlags(fs)
	o.RegistryOptions.AddFlags(fs, 8, "how many images to check at once")
	o.ECR.AddFlags(fs, false)
	fs.BoolVar(&o.SameDigest, "same-digest", false, "also require each mirror image to have its source's digest (catches a tag that moved upstream)")
	fs.BoolVar(&o.Signed, "signed", false, "also require each mirror image to hold the signatures its source has for its digest: cosign's .sig tag and signature referrers (cosign, Notation, Sigstore bundles)")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "how long to wait for a registry's answer about one image, retries included")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "do not print the summary line on stderr")
	fs.StringVarP(&o.Output, "output", "o", "text", "format of the report on stdout: text or json")
}

// Validate checks the flags.
func (o *VerifyOptions) Validate() error {
	if err := o.ColorOptions.Validate(); err != nil {
		return err
	}
	if err := o.RegistryOptions.Validate(); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, not %v", o.Timeout)
	}
	if o.Output != "text" && o.Output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", o.Output)
	}
	return nil
}

// NewCmdVerify returns "kmirror verify".
func NewCmdVerify() *cobra.Command {
	o := &VerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify [PATH|-]...",
		Short: "Check that every image manifests will pull exists, in the mirror or where it is",
		Long: `Verify reads manifests as "kmirror rewrite" does, before or after rewriting,
and checks that every image a cluster will pull from them resolves in its
registry: for each image field, the image the rules make of it (an image
already under a mirror is itself; an escaped image or one no rule covers
is pulled where it is). Each distinct image is checked once, with a HEAD
request, several at once. Nothing is pulled or changed.

Each image that is not there is reported with its file, document, line,
object and field path, the image as written, and the image missing. A
registry that does not answer "found" or "not found" (401, 403, a timeout)
is reported as an error, never as missing.

--same-digest also requires each mirror image to have the digest of its
source, which catches a tag that moved upstream after the copy. For an
image already rewritten, the source is found by inverting the rules; when
several sources map to one mirror image, any one that matches will do. A
platform subset that "kmirror sync --platform" made matches the source it
records.

--signed also requires each mirror image to hold the signatures that its
source attaches to the same digest, to the image or to the images of an
index: cosign's sha256-<digest>.sig tag, and OCI 1.1 referrers whose
artifactType is a signature's (cosign, Notation, Sigstore bundles). A
cluster that verifies images verifies them in the mirror.

Credentials, TLS and retries are as for "kmirror sync".

Exit status: 0 every image resolves, 1 some image is missing (or has
another digest than its source with --same-digest, or lacks a signature
with --signed), 2 trouble: rules, manifests, flags, or an image that
could not be checked.`,
		Example: `  # The CI gate: fail when the mirror lacks an image the manifests pull
  kmirror verify deploy/

  # After sync and rewrite, also check that no tag moved upstream
  kmirror verify --same-digest deploy/

  # For the pipeline
  helm template my-release ./chart | kmirror verify -o json > verify.json`,
		RunE: o.Run,
	}
	o.AddFlags(cmd.Flags())
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Run checks the images of the inputs named by args.
func (o *VerifyOptions) Run(cmd *cobra.Command, args []string) error {
	if err := o.Validate(); err != nil {
		return err
	}
	eng, err := o.Load(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx := cmd.Context() // cobra's Execute sets one
	if len(args) == 0 && isTerminal(cmd.InOrStdin()) {
		return errors.New("nothing to read: name files or directories, or pipe manifests in")
	}
	var fields []manifest.Image
	sum, err := scan.Images(ctx, scan.Inputs{Stdin: cmd.InOrStdin(), Args: args}, eng, func(img manifest.Image) error {
		fields = append(fields, img)
		return nil
	})
	if err != nil {
		return err
	}
	client, err := o.Client()
	if err != nil {
		return err
	}
	// A Prober logs in once per repository: the HEADs of one repository
	// are then one request each.
	vo := mirrorsync.VerifyOptions{Jobs: o.Jobs, Timeout: o.Timeout, SameDigest: o.SameDigest}
	if o.Signed {
		vo.Signatures = client
	}
	checks := mirrorsync.Verify(ctx, client.NewProber(0, 0), fields, eng, vo)
	if ctx.Err() != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "kmirror: interrupted")
		return &ExitError{Code: exitInterrupted}
	}
	counts := mirrorsync.SummarizeChecks(checks)
	if o.Output == "json" {
		err = writeVerifyJSON(cmd.OutOrStdout(), checks, counts, sum.Warnings)
	} else {
		err = writeVerifyText(cmd.OutOrStdout(), checks)
	}
	if err != nil {
		return err
	}
	if !o.Quiet {
		printWarnings(cmd.ErrOrStderr(), sum.Warnings)
		fmt.Fprintln(cmd.ErrOrStderr(), verifyLine(counts))
	}
	switch {
	case counts.Errors > 0:
		return &ExitError{Code: 2}
	case counts.Missing+counts.Mismatch+counts.Unsigned > 0:
		return &ExitError{Code: 1}
	}
	return nil
}

// writeVerifyText writes a line for each image field that is not there.
func writeVerifyText(w io.Writer, checks []mirrorsync.Check) error {
	var b strings.Builder
	for _, c := range checks {
		switch c.Verdict {
		case mirrorsync.Found, mirrorsync.NotPulled:
			continue
		case mirrorsync.Missing:
			fmt.Fprintf(&b, "%s: %s: %s %s\n", c.Location, c.Image, oldColor.Sprint("missing"), c.Pulled)
		case mirrorsync.Mismatch:
			fmt.Fprintf(&b, "%s: %s: %s: %s\n", c.Location, c.Image, oldColor.Sprint("digest mismatch"), c.Error)
		case mirrorsync.Unsigned:
			fmt.Fprintf(&b, "%s: %s: %s: %s\n", c.Location, c.Image, oldColor.Sprint("signature missing"), c.Error)
		default:
			fmt.Fprintf(&b, "%s: %s: %s %s\n", c.Location, c.Image, warnColor.Sprint("error:"), c.Error)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func verifyLine(s mirrorsync.VerifySummary) string {
	line := fmt.Sprintf("checked %d %s (%d %s): %d present, %d missing",
		s.Fields, plural(s.Fields, "image field"), s.Images, plural(s.Images, "distinct image"), s.Present, s.Missing)
	if s.Mismatch > 0 {
		line += fmt.Sprintf(", %d with another digest than the source", s.Mismatch)
	}
	if s.Unsigned > 0 {
		line += fmt.Sprintf(", %d lacking a signature of the source", s.Unsigned)
	}
	if s.NotPulled > 0 {
		line += fmt.Sprintf(", %d not pulled (imagePullPolicy: Never)", s.NotPulled)
	}
	if s.Errors > 0 {
		line += fmt.Sprintf(", %d not checked", s.Errors)
	}
	return line
}

// verifyReport is the -o json document.
type verifyReport struct {
	OK       bool                     `json:"ok"`
	Summary  mirrorsync.VerifySummary `json:"summary"`
	Images   []mirrorsync.Check       `json:"images"`
	Warnings []manifest.Warning       `json:"warnings"`
}

func writeVerifyJSON(w io.Writer, checks []mirrorsync.Check, s mirrorsync.VerifySummary, warnings []manifest.Warning) error {
	rep := verifyReport{OK: s.Present+s.NotPulled == s.Fields, Summary: s, Images: checks, Warnings: warnings}
	if rep.Images == nil {
		rep.Images = []mirrorsync.Check{}
	}
	if rep.Warnings == nil {
		rep.Warnings = []manifest.Warning{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
