package imagebuild

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// VersionVar is the variable that the linker sets to the version, which
// `kmirror version` prints.
const VersionVar = "kmirror.dev/kmirror/cmd.Version"

// DefaultPlatforms are the platforms `make image` builds.
const DefaultPlatforms = "linux/amd64,linux/arm64"

// CompileOptions say which binaries Compile builds.
type CompileOptions struct {
	// Go is the go command; "" is "go" on PATH.
	Go string
	// Dir is the module's root, where the main package is.
	Dir string
	// Platforms are the platforms to build for.
	Platforms []v1.Platform
	// Version is stamped into VersionVar.
	Version string
	// Out is the directory the binaries go to, one directory per
	// platform.
	Out string
	// Log receives the go tool's output.
	Log io.Writer
}

// ParsePlatforms parses a comma-separated list of "linux/ARCH" platforms.
// The image is Linux only, and variants are refused: a variant would
// need its own GOARM, and kmirror's platforms need none.
func ParsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, f := range strings.Split(s, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("platform %q: %w", f, err)
		}
		if p.OS != "linux" || p.Architecture == "" || p.Variant != "" || p.OSVersion != "" {
			return nil, fmt.Errorf("platform %q: want linux/ARCH, such as linux/amd64", f)
		}
		out = append(out, *p)
	}
	return out, nil
}

// Compile builds the kmirror binary of each platform with the go tool:
// static (CGO_ENABLED=0), so that it needs no libc, cross-compiled for
// every platform, with -trimpath and without symbols (-s -w) as the
// Dockerfile builds it, and for the baseline CPU of each architecture
// whatever GOAMD64 or GOARM64 the environment sets, since the index
// promises plain linux/amd64 and linux/arm64.
func Compile(ctx context.Context, o CompileOptions) ([]Binary, error) {
	if err := ValidVersion(o.Version); err != nil {
		return nil, err
	}
	goCmd := o.Go
	if goCmd == "" {
		goCmd = "go"
	}
	var bins []Binary
	for _, p := range o.Platforms {
		out := filepath.Join(o.Out, p.OS+"_"+p.Architecture, "kmirror")
		cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath",
			"-ldflags", "-s -w -X "+VersionVar+"="+o.Version, "-o", out, ".")
		cmd.Dir = o.Dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture,
			"GOAMD64=v1", "GOARM64=v8.0")
		cmd.Stdout, cmd.Stderr = o.Log, o.Log
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("building kmirror for %s: %w", p, err)
		}
		bins = append(bins, Binary{Platform: p, Path: out})
	}
	return bins, nil
}
