// Command kmirror rewrites container images in Kubernetes manifests to a
// mirror registry: in pipes, as a Helm post-renderer or KRM function, and as
// a mutating admission webhook.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"kmirror.dev/kmirror/cmd"
)

func main() {
	ctx, stop := cmd.SignalContext(context.Background())
	err := cmd.NewRoot().ExecuteContext(ctx)
	stop()
	var exit *cmd.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "kmirror:", cmd.ErrorText(err))
	}
	os.Exit(cmd.ExitCode(err))
}
