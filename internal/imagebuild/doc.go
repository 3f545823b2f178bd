// Package imagebuild builds kmirror's container image without a Docker
// engine, over go-containerregistry: an OCI image index with one image per
// platform, each made of two layers on nothing (scratch):
//
//   - the base, the same for every platform: /etc/passwd and /etc/group
//     naming root and nonroot (uid and gid 65532), the CA certificates of
//     the build machine at /etc/ssl/certs/ca-certificates.crt (where Go
//     looks first on Linux), and the directories /home/nonroot and /tmp;
//   - the static kmirror binary of the platform, at /kmirror.
//
// There is no shell, no package manager and no libc: a static Go binary
// needs none. The config runs /kmirror as 65532:65532 with "--help" as its
// default arguments, and labels the image with its version and revision
// (org.opencontainers.image.*), as the index's annotations do too. This is
// what the Dockerfile makes on gcr.io/distroless/static-debian12:nonroot,
// minus what kmirror does not use (time zones, nsswitch.conf).
//
// Every timestamp, in the configs and in the layers' tar headers, is
// Options.Created, and files are written in a fixed order with fixed
// owners and modes, so that the same binaries and CA bundle give the same
// digests. The index's entries carry no artifactType, which
// mutate.AppendManifests would add and skopeo 1.9 refuses when it copies
// with --preserve-digests.
//
// Compile builds the binaries with the go tool, cross-compiling every
// platform (CGO_ENABLED=0); WriteLayout writes an index as an OCI layout;
// registry.Client.Push pushes it.
package imagebuild
