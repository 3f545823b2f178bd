package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
)

// RewriteOptions are the flags of "kmirror rewrite", which the bare
// "kmirror" shares.
type RewriteOptions struct {
	RulesOptions
	ColorOptions
	InPlace bool
	Check   bool
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
	eng, err := o.Engine()
	if err != nil {
		return err
	}
	files, err := fileset.Read(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	// Every input is rewritten before anything is written, so that an error
	// leaves no partial stream and no modified file.
	results := make([]*manifest.Result, len(files))
	for i, f := range files {
		if results[i], err = manifest.Rewrite(f.Name, f.Data, eng); err != nil {
			return err
		}
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	printWarnings(stderr, results)
	if err := o.output(stdout, files, results); err != nil {
		return err
	}
	s := summarize(results)
	if !o.Quiet {
		fmt.Fprintln(stderr, s.line(o.Check))
	}
	if o.Check && s.Images > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

func (o *RewriteOptions) output(w io.Writer, files []fileset.File, results []*manifest.Result) error {
	switch {
	case o.Check && o.Output == "json":
		return writeCheckJSON(w, results)
	case o.Check && !o.Diff:
		writeCheckText(w, results)
	case o.Diff:
		writeDiffs(w, files, results)
	}
	if o.InPlace {
		var changed []fileset.File
		for i, f := range files {
			if len(results[i].Rewritten()) > 0 {
				changed = append(changed, fileset.File{Name: f.Name, Path: f.Path, Data: results[i].Output})
			}
		}
		return fileset.WriteAll(changed)
	}
	if o.Check || o.Diff {
		return nil
	}
	return writeStream(w, results)
}

// writeStream writes the outputs one after the other, separated by "---"
// where a file does not start with one.
func writeStream(w io.Writer, results []*manifest.Result) error {
	for i, r := range results {
		out := r.Output
		if i > 0 {
			if prev := results[i-1].Output; len(prev) > 0 && prev[len(prev)-1] != '\n' {
				if _, err := io.WriteString(w, "\n"); err != nil {
					return err
				}
			}
			if !startsDocument(out) {
				if _, err := io.WriteString(w, "---\n"); err != nil {
					return err
				}
			}
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}

func startsDocument(b []byte) bool {
	return len(b) >= 3 && string(b[:3]) == "---"
}

// isTerminalReader reports whether r is an interactive terminal, where a
// bare "kmirror" shows help instead of waiting for a stream.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminal(f)
}
