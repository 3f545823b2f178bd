// Package cmd holds kmirror's cobra commands: flags, validation and
// printing. The work itself is done in pkg/.
package cmd

import (
	"errors"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"kmirror.dev/kmirror/pkg/manifest"
)

// ExitError ends kmirror with Code and prints nothing more. Exit codes
// follow diff(1): 0 done, 1 differences found by --check, 2 trouble.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string { return "exit status " + strconv.Itoa(e.Code) }

// ExitCode is the exit status for the error a command returned.
func ExitCode(err error) int {
	var exit *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	default:
		return 2
	}
}

// ErrorText is the message of err as kmirror prints it: each line with the
// control characters it may have taken from a manifest or a file name
// escaped (manifest.Printable).
func ErrorText(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = manifest.Printable(l)
	}
	return strings.Join(lines, "\n")
}

// NewRoot returns the kmirror command. Run bare with a stream on stdin, it
// rewrites the stream, as a Helm post-renderer or a KRM function expects.
func NewRoot() *cobra.Command {
	o := &RewriteOptions{}
	root := &cobra.Command{
		Use:   "kmirror",
		Short: "Point the container images of Kubernetes manifests at a mirror registry",
		Long: `kmirror rewrites the container images of Kubernetes objects to a mirror
registry, by prefix rules: k8s.gcr.io/coredns:1.3.1 becomes
<mirror>/gcr/google_containers/coredns:1.3.1. An image written
direct.to/<image> is never mirrored: it becomes <image>.

Run bare with a stream on stdin, kmirror rewrites it to stdout; this is how
Helm calls a post-renderer. See "kmirror rewrite --help" for the flags.
When stdin is a KRM ResourceList (config.kubernetes.io/v1 or v1alpha1),
kmirror is a KRM function, as kustomize and kpt run it: it rewrites the
items, takes its rules from the functionConfig (a MirrorRules object, or a
ConfigMap whose data.rules holds one), and reports problems in results.`,
		Example: `  helm template my-release ./chart | kmirror
  helm install my-release ./chart --post-renderer kmirror
  kustomize build --enable-alpha-plugins --enable-exec overlays/prod
  kmirror rewrite -i deploy/
  kmirror rewrite --check --rules my-rules.yaml manifests/`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if isTerminal(cmd.InOrStdin()) {
				return cmd.Help()
			}
			return runStdin(cmd, o)
		},
	}
	o.AddFlags(root.Flags())
	root.AddCommand(
		NewCmdRewrite(),
		NewCmdImages(),
		NewCmdRules(),
		NewCmdVersion(),
		NewCmdServe(),
		NewCmdManifests(),
		NewCmdSync(), NewCmdVerify(),
	)
	return root
}
