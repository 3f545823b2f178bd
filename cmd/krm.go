package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"

	"kmirror.dev/kmirror/pkg/krm"
)

// runStdin is the bare kmirror with a stream on stdin: a ResourceList runs
// the KRM function, anything else is rewritten as "kmirror rewrite" does.
// Stdin is read once, and handed on.
func runStdin(cmd *cobra.Command, o *RewriteOptions) error {
	if err := o.Validate(nil); err != nil {
		return err
	}
	data, err := io.ReadAll(cmd.InOrStdin())
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if krm.IsResourceList(data) {
		return runFunction(cmd, o, data)
	}
	cmd.SetIn(bytes.NewReader(data))
	return o.Run(cmd, nil)
}

// runFunction runs kmirror as a KRM function on the ResourceList data. The
// ResourceList goes to stdout, even when the functionConfig is bad, so that
// the orchestrator gets the results; warnings go to stderr too, and a bad
// functionConfig is returned, which makes kmirror exit non-zero.
func runFunction(cmd *cobra.Command, o *RewriteOptions, data []byte) error {
	if o.Check || o.Diff || o.InPlace || o.Output != "text" {
		return errors.New("stdin is a ResourceList, which kmirror runs as a KRM function: " +
			"--check, --diff, --in-place and --output do not apply")
	}
	out, err := krm.Function{Rules: o.Engine}.Run(data)
	if out == nil {
		return err
	}
	for _, r := range out.Results {
		if r.Severity != framework.Error {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %s\n", warnColor.Sprint("kmirror:"), r)
		}
	}
	if _, werr := cmd.OutOrStdout().Write(out.ResourceList); werr != nil && err == nil {
		err = fmt.Errorf("writing ResourceList: %w", werr)
	}
	return err
}
