package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/manifest"
	"kmirror.dev/kmirror/pkg/mirror"
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
	files, err := fileset.List(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var results []*manifest.Result
	if o.InPlace {
		results, err = o.rewriteInPlace(stdout, files, eng)
		if err != nil {
			return err
		}
		printWarnings(stderr, results)
	} else {
		var keep func(manifest.Image) bool
		if o.Check {
			keep = func(img manifest.Image) bool { return img.Decision.Changed() }
		}
		in := &inputs{spool: fileset.NewSpool(0)}
		defer in.spool.Close()
		if results, err = scanAll(files, eng, keep, in); err != nil {
			return err
		}
		printWarnings(stderr, results)
		if err := o.output(stdout, in, results); err != nil {
			return err
		}
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

// inputs is a copy of every input, one after the other, for the output to
// read again: an input is read once, as a pipe can be.
type inputs struct {
	spool *fileset.Spool
	ends  []int64
}

// of returns the copy of input i.
func (in *inputs) of(i int) io.Reader {
	start := int64(0)
	if i > 0 {
		start = in.ends[i-1]
	}
	return io.NewSectionReader(in.spool.Reader(), start, in.ends[i]-start)
}

// scanAll decides every image of every file before anything is written, so
// that an error leaves no partial stream and no modified file. Only the
// current document of each file is held in memory, and the images that keep
// chooses; when in is not nil, it gets a copy of the inputs.
func scanAll(files []fileset.File, eng *mirror.Engine, keep func(manifest.Image) bool, in *inputs) ([]*manifest.Result, error) {
	results := make([]*manifest.Result, len(files))
	for i, f := range files {
		r, err := f.Open()
		if err != nil {
			return nil, err
		}
		var src io.Reader = r
		if in != nil {
			src = io.TeeReader(r, in.spool)
		}
		results[i], err = manifest.Scan(f.Name, src, eng, keep)
		r.Close()
		if err != nil {
			return nil, err
		}
		if in != nil {
			in.ends = append(in.ends, in.spool.Len())
		}
	}
	return results, nil
}

func (o *RewriteOptions) output(w io.Writer, in *inputs, results []*manifest.Result) error {
	switch {
	case o.Check && o.Output == "json":
		return writeCheckJSON(w, results)
	case o.Check && !o.Diff:
		writeCheckText(w, results)
		return nil
	case o.Diff:
		return writeDiffs(w, in, results)
	}
	return writeStream(w, in, results)
}

// rewriteInPlace replaces the files that change, each read once, and
// writes their diffs to w with --diff once every file is replaced.
func (o *RewriteOptions) rewriteInPlace(w io.Writer, files []fileset.File, eng *mirror.Engine) ([]*manifest.Result, error) {
	results := make([]*manifest.Result, len(files))
	diffs := fileset.NewSpool(0)
	defer diffs.Close()
	err := fileset.Replace(files, func(i int, src io.Reader, dst io.Writer) (bool, error) {
		in := &inputs{spool: fileset.NewSpool(0)}
		defer in.spool.Close()
		res, err := manifest.Scan(files[i].Name, io.TeeReader(src, in.spool), eng, nil)
		if err != nil || res.Changed == 0 {
			results[i] = res
			return false, err
		}
		results[i], in.ends = res, []int64{in.spool.Len()}
		if o.Diff {
			if err := writeDiffs(diffs, in, []*manifest.Result{res}); err != nil {
				return false, err
			}
		}
		return true, res.Apply(dst, in.of(0))
	})
	if err != nil {
		return nil, err
	}
	_, err = diffs.WriteTo(w)
	return results, err
}

// writeStream writes the rewritten inputs one after the other, separated
// by "---" where an input does not start with one.
func writeStream(w io.Writer, in *inputs, results []*manifest.Result) error {
	out := &lastByteWriter{w: bufio.NewWriterSize(w, 64<<10), last: '\n'}
	for i, r := range results {
		br := bufio.NewReader(in.of(i))
		if i > 0 {
			if out.last != '\n' {
				io.WriteString(out, "\n")
			}
			if head, _ := br.Peek(3); string(head) != "---" {
				io.WriteString(out, "---\n")
			}
		}
		if err := r.Apply(out, br); err != nil {
			return err
		}
	}
	return out.w.Flush()
}

// lastByteWriter remembers the last byte written through it.
type lastByteWriter struct {
	w    *bufio.Writer
	last byte
}

func (l *lastByteWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		l.last = p[len(p)-1]
	}
	return l.w.Write(p)
}

// isTerminalReader reports whether r is an interactive terminal, where a
// bare "kmirror" shows help instead of waiting for a stream.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && isTerminal(f)
}
