// Package registry is kmirror's access to OCI registries, over
// go-containerregistry. Every request goes through one Client: references
// are parsed with ggcr's name package, credentials come from the Docker
// config (as docker, crane and helm read it, credential helpers included),
// TLS trust from the system pool (SSL_CERT_FILE works), plain HTTP only
// for the registries named in Options.PlainHTTP, and one retry policy
// covers every request: 429, 5xx and connection errors are retried with
// exponential backoff, and a Retry-After header is honoured. What a
// registry can make a Client wait for or read is bounded: a request whose
// response headers do not come within Options.HeaderTimeout (30s), or a
// body that moves no byte for Options.IdleTimeout (60s), fails; a manifest
// over MaxManifestBytes (4 MiB, distribution's limit) is not read.
//
// The Client answers two questions and does one thing:
//
//   - Head: does a registry hold this image, and under which digest?
//   - Check: does a mirror already hold what a source image names?
//   - Copy: make the mirror hold it, byte for byte, children first and the
//     tag last, so that no tag ever names a half-copied image. A tag is
//     written only to the digest the source's tag names now, so that a
//     "repo:tag@digest" reference cannot move a mirror's tag. With
//     CopyOptions.Referrers, what is attached to the image comes after.
//
// What is attached to an image is its OCI 1.1 referrers and cosign's
// sha256-<hex>.sig, .att and .sbom tags, of the image and of each image
// of an index. remote.Referrers reads the referrers, and remote's writes
// list them, through the OCI fallback tag on a registry without the
// referrers API. Two pieces are kmirror's: one listing of a source
// repository's tags tells which manifests have anything attached (asking
// remote.Referrers and cosign's three tags of each manifest would cost
// four requests or more a manifest, on every run), and the artifacts of
// one subject are written one at a time, since remote updates a fallback
// tag by reading it and writing it back. MissingSignatures names the
// signatures a copy lacks.
//
// A [Prober] sends the HEAD requests of a process that runs for long (the
// webhook), logging in once per repository rather than once per request.
// Credentials come from the Docker config, or from one file given in
// Options.ConfigFile (see [ConfigKeychain]), then from Options.ExtraKeychain
// for a registry the Docker config has none for (Amazon ECR's tokens).
// Options.Repositories makes a target repository exist before the first
// write to it, for registries that take no push into one not made first.
//
// Errors say which registry answered what: errors.Is(err, ErrNotFound)
// holds only for a registry that said "not found", never for 401, 403 or a
// timeout; errors.Is(err, ErrNoRepository) for a write into a repository
// that does not exist (NAME_UNKNOWN).
package registry
