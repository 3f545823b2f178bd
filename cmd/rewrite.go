package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
	"kmirror.dev/kmirror/pkg/scan"
)

// RewriteOptions are the flags of "kmirror rewrite", which the bare
// "kmirror" shares.
type RewriteOptions struct {
	RulesOptions
	ColorOptions
	InPlace bool
	Check   bool
	Strict  bool
	Diff    bool
	Quiet   bool
	Output  string
}

// AddFlags registers the rewrite flags.
func (o *RewriteOptions) AddFlags(fs *pflag.FlagSet) {
	o.RulesOptions.AddFlags(fs)
	o.ColorOptions.AddFlags(fs)
	fs.BoolVarP(&o.InPlace, "in-place", "i", false, "rewrite the files themselves; none is touched if any fails")
	fs.BoolVar(&o.Check, "check", false, "list the images that would change and exit 1 if any would, 0 if none")
	fs.BoolVar(&o.Strict, "strict", false, "with --check, exit 1 for warnings too: invalid images, values of image fields that are not strings")
	fs.BoolVar(&o.Diff, "diff", false, "print a unified diff instead of the rewritten stream")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "do not print the summary line on stderr")
	fs.StringVarP(&o.Output, "output", "o", "text", "format of the --check report: text or json")
}

// Validate checks that the flags and arguments go together.
func (o *RewriteOptions) Validate(args []string) error {
	if err := o.ColorOptions.Validate(); err != nil {
		return err
	}
	if o.Output != "text" && o.Output != "json" {
		return fmt.Errorf("--output must be text or json, not %q", o.Output)
	}
	if o.Output == "json" && !o.Check {
		return errors.New("--output json is the format of the --check report; add --check")
	}
	if o.Strict && !o.Check {
		return errors.New("--strict is a rule of the --check gate; add --check")
	}
	if o.InPlace && o.Check {
		return errors.New("--in-place and --check cannot be combined: --check changes nothing")
	}
	if o.InPlace {
		if len(args) == 0 {
			return errors.New("--in-place needs files or directories to rewrite")
		}
		for _, a := range args {
			if a == fileset.Stdin {
				return errors.New("--in-place cannot rewrite stdin")
			}
		}
	}
	return nil
}

// NewCmdRewrite returns "kmirror rewrite".
func NewCmdRewrite() *cobra.Command {
	o := &RewriteOptions{}
	cmd := &cobra.Command{
		Use:   "rewrite [PATH|-]...",
		Short: "Rewrite the images of manifests to the mirror",
		Long: `Rewrite reads Kubernetes YAML or JSON from files, directories (searched
recursively for .yaml, .yml and .json) or stdin ("-", the default), and
writes it to stdout with every container, init container, ephemeral
container and image volume image pointed at the mirror. Everything else
stays byte for byte as it was.

Exit status: 0 done, 1 when --check finds images to rewrite, 2 on trouble
(malformed YAML or rules, unreadable files); on trouble nothing is written.`,
		Example: `  # Rewrite a stream with the default rules
  helm template my-release ./chart | kmirror rewrite

  # Rewrite a directory in place, with your own rules
  kmirror rewrite -i --rules rules.yaml deploy/

  # Fail a CI job when a manifest pulls from a registry the cluster cannot reach
  kmirror rewrite --check -o json deploy/

  # ... or names an image that is not a valid reference, or not a string
  kmirror rewrite --check --strict deploy/

  # Review the change as a diff
  kmirror rewrite --diff deploy/app.yaml`,
		RunE: o.Run,
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// Run rewrites the inputs named by args.
func (o *RewriteOptions) Run(cmd *cobra.Command, args []string) error {
	if err := o.Validate(args); err != nil {
		return err
	}
	tuneStreamGC()
	eng, err := o.Load(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	files, err := fileset.List(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	// Nothing reaches stdout until every input succeeded.
	spool := fileset.NewSpool(0)
	defer spool.Close()
	var sum manifest.Summary
	if o.InPlace {
		sum, err = o.rewriteInPlace(cmd.Context(), spool, stderr, files, eng)
	} else {
		sum, err = scanTo(cmd.Context(), files, eng, o.output(spool), stderr)
	}
	if err != nil {
		return err
	}
	if _, err := spool.WriteTo(stdout); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	if !o.Quiet {
		fmt.Fprintln(stderr, summaryLine(sum, o.Check))
	}
	if o.Check && (sum.Rewrites+sum.Left > 0 || o.Strict && sum.Warnings > 0) {
		return &ExitError{Code: 1}
	}
	return nil
}

// output returns what the run writes for the flags given.
func (o *RewriteOptions) output(w io.Writer) output {
	switch {
	case o.Check && o.Output == "json":
		return newCheckJSON(w)
	case o.Check && !o.Diff:
		return &checkText{w: w}
	case o.Diff:
		return &diffOutput{w: w}
	}
	return newStreamOutput(w)
}

// rewriteInPlace replaces the files that change, each read once, all or
// nothing; with --diff, it writes their diffs to w.
func (o *RewriteOptions) rewriteInPlace(ctx context.Context, w, stderr io.Writer, files []fileset.File, eng *mirror.Engine) (manifest.Summary, error) {
	var diff *diffOutput
	if o.Diff {
		diff = &diffOutput{w: w}
	}
	var total manifest.Summary
	err := fileset.Replace(files, func(i int, src io.Reader, dst io.Writer) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if diff != nil {
			if err := diff.file(files[i].Name); err != nil {
				return false, err
			}
		}
		sum, err := scan.Reader(ctx, files[i].Name, src, eng, func(p *manifest.Part) error {
			printWarnings(stderr, p.Warnings)
			if diff != nil {
				if err := diff.part(p); err != nil {
					return err
				}
			}
			_, err := p.WriteTo(dst)
			return err
		})
		total.Sum(sum)
		return sum.Changed > 0, err
	})
	if err == nil && diff != nil {
		err = diff.end(total)
	}
	return total, err
}
