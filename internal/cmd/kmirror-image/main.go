// Command image builds kmirror's container image without a Docker engine
// (see package imagebuild), and pushes it to a registry, writes it as an
// OCI layout, or both. `make image` runs it from the module's root:
//
//	go run ./internal/cmd/kmirror-image --version v1 --push registry.example.com/kmirror:v1
//	go run ./internal/cmd/kmirror-image --version v1 --oci-layout bin/image
//
// A push reads credentials from the Docker config and trusts the system's
// CA certificates (SSL_CERT_FILE too), as `kmirror sync` does. It prints
// what it made, the pushed reference with its digest last; it exits 2 on
// any trouble.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"kmirror.dev/kmirror/internal/imagebuild"
	"kmirror.dev/kmirror/pkg/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		os.Exit(2) // the flag package has said what was wrong
	case err != nil:
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(2)
	}
}

// usageError is a bad command line, which the flag package reports.
type usageError struct{ error }

type options struct {
	push, layout, version, revision, platforms, caBundle, goCmd string
	created                                                     int64
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.push, "push", "", "push the image to this `reference` (repo[:tag]; without a tag, the version is the tag)")
	fs.StringVar(&o.layout, "oci-layout", "", "write the image as an OCI layout to this `directory`, tagged with the version")
	fs.StringVar(&o.version, "version", "", "the version kmirror prints and the image's labels say (required)")
	fs.StringVar(&o.revision, "revision", "", "the source's commit, for the image's labels")
	fs.Int64Var(&o.created, "created", 0, "every timestamp of the image, in `seconds` since 1970 (SOURCE_DATE_EPOCH)")
	fs.StringVar(&o.platforms, "platforms", imagebuild.DefaultPlatforms, "the platforms of the index, comma-separated")
	fs.StringVar(&o.caBundle, "ca-bundle", imagebuild.DefaultCABundle, "the PEM `file` of CA certificates the image trusts")
	fs.StringVar(&o.goCmd, "go", "go", "the go `command` that builds kmirror")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./internal/cmd/kmirror-image --version V [--push REF] [--oci-layout DIR] [flags]")
		fs.PrintDefaults()
	}
	var o options
	o.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	client, err := registry.New(registry.Options{UserAgent: "kmirror-image"})
	if err != nil {
		return err
	}
	platforms, target, err := o.validate(client)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(o.caBundle)
	if err != nil {
		return fmt.Errorf("reading the CA bundle: %w (Debian's ca-certificates puts it at %s; or give --ca-bundle)", err, imagebuild.DefaultCABundle)
	}
	tmp, err := os.MkdirTemp("", "kmirror-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(stderr, "building kmirror %s for %s\n", o.version, o.platforms)
	bins, err := imagebuild.Compile(ctx, imagebuild.CompileOptions{
		Go: o.goCmd, Dir: ".", Platforms: platforms, Version: o.version, Out: tmp, Log: stderr,
	})
	if err != nil {
		return err
	}
	idx, err := imagebuild.Build(imagebuild.Options{
		Binaries: bins, CABundle: ca, Version: o.version, Revision: o.revision, Created: time.Unix(o.created, 0).UTC(),
	})
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "built kmirror %s for %s: %s\n", o.version, o.platforms, digest)
	if o.layout != "" {
		if err := imagebuild.WriteLayout(o.layout, o.version, idx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote OCI layout %s, tag %s\n", o.layout, o.version)
	}
	if target != "" {
		d, err := client.Push(ctx, target, idx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pushed %s@%s\n", target, d)
	}
	return nil
}

// validate checks the options before anything is built, and returns the
// platforms and the reference to push to, with its tag.
func (o *options) validate(client *registry.Client) ([]v1.Platform, string, error) {
	if o.push == "" && o.layout == "" {
		return nil, "", errors.New("give --push REF, --oci-layout DIR, or both")
	}
	if o.version == "" {
		return nil, "", errors.New("give --version")
	}
	if err := imagebuild.ValidVersion(o.version); err != nil {
		return nil, "", err
	}
	platforms, err := imagebuild.ParsePlatforms(o.platforms)
	if err != nil {
		return nil, "", err
	}
	if o.push == "" {
		return platforms, "", nil
	}
	ref, err := client.Parse(o.push)
	if err != nil {
		return nil, "", err
	}
	switch {
	case ref.Digest != "":
		return nil, "", fmt.Errorf("--push %s: give a tag, not a digest", o.push)
	case ref.Tag == "":
		ref.Tag = o.version
	}
	return platforms, ref.String(), nil
}
