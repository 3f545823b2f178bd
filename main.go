// Command kmirror rewrites container images in Kubernetes manifests to a
// mirror registry: in pipes, as a Helm post-renderer or KRM function, and as
// a mutating admission webhook.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kmirror.dev/kmirror/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cmd.NewRoot().ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	var exit *cmd.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.Code)
	}
	fmt.Fprintln(os.Stderr, "kmirror:", err)
	os.Exit(2)
}
