package cmd

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"

	"kmirror.dev/kmirror/pkg/fileset"
	"kmirror.dev/kmirror/pkg/krm"
	"kmirror.dev/kmirror/pkg/manifest"
)

// runStdin is the bare kmirror with a stream on stdin: a ResourceList runs
// the KRM function, anything else is rewritten as "kmirror rewrite" does.
// Stdin is read once: what it takes to tell which is kept in a spool, and
// read again before the rest.
func runStdin(cmd *cobra.Command, o *RewriteOptions) error {
	if err := o.Validate(nil); err != nil {
		return err
	}
	tuneStreamGC()
	stdin := cmd.InOrStdin()
	seen := fileset.NewSpool(0)
	defer seen.Close()
	isList, err := krm.Detect(io.TeeReader(stdin, seen))
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	in := io.MultiReader(seen.Reader(), stdin)
	if isList {
		return runFunction(cmd, o, in)
	}
	cmd.SetIn(in)
	return o.Run(cmd, nil)
}

// runFunction runs kmirror as a KRM function on the ResourceList in. The
// ResourceList goes to stdout, even when the functionConfig is bad, so that
// the orchestrator gets the results; warnings go to stderr too, and a bad
// functionConfig is returned, which makes kmirror exit non-zero. The
// input is spooled, to be read twice (the functionConfig may come after
// the items), and so is the output, which goes out only when it is whole.
func runFunction(cmd *cobra.Command, o *RewriteOptions, in io.Reader) error {
	if o.Check || o.Diff || o.InPlace || o.Output != "text" {
		return errors.New("stdin is a ResourceList, which kmirror runs as a KRM function: " +
			"--check, --diff, --in-place and --output do not apply")
	}
	src, out := fileset.NewSpool(0), fileset.NewSpool(0)
	defer src.Close()
	defer out.Close()
	if _, err := io.Copy(src, in); err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	// The rules' warnings come back as results.
	res, err := krm.Function{Rules: o.Engine}.Stream(src.Reader(), out)
	if res == nil {
		return err
	}
	for _, r := range res.Results {
		if r.Severity != framework.Error {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %s\n", warnColor.Sprint("kmirror:"), manifest.Printable(r.String()))
		}
	}
	if _, werr := out.WriteTo(cmd.OutOrStdout()); werr != nil && err == nil {
		err = fmt.Errorf("writing ResourceList: %w", werr)
	}
	return err
}
