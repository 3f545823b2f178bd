// Package pkg holds kmirror's importable packages: what a Go program would
// use to decide, rewrite, copy and check images as the kmirror command does.
// It has no code of its own; this comment is the map.
//
// The API, in the order a decision flows (dependencies point down the
// list, never up, and never to the command line in kmirror.dev/kmirror/cmd):
//
//   - image: parse image references and match registry and repository
//     prefixes, keeping the form each was written in.
//   - mirror: the engine: rules and an image in, the image to pull and why
//     out. The rule presets are in kmirror.dev/kmirror/rules.
//   - fieldpath: the paths that declare image fields of custom resources.
//   - manifest: find every image field of Kubernetes objects in a YAML or
//     JSON stream and rewrite it with the engine, byte for byte.
//   - krm: kmirror as a KRM function (kustomize, kpt).
//   - admission: the mutating admission webhook, its server and
//     (admission/install) the objects that install it.
//   - registry: access to OCI registries over go-containerregistry: head,
//     check, copy, with one retry policy and readable errors.
//   - ecr: Amazon ECR as a mirror: its hosts, tokens and repositories.
//   - mirrorsync: fill a mirror (sync), check it (verify), and the
//     webhook's copy queue.
//   - mirrorcheck: the webhook's cached answer to "does the mirror hold
//     this image?".
//
// Pieces the API is built on, importable because the API's types use
// them, but made for kmirror's commands rather than as libraries of their
// own: jsonnode (JSON parsed into the node tree yaml.v3 makes), fileset
// (inputs read once, files replaced all or nothing, spools), scan (the
// inputs of a command line decided, for every command that acts on
// images), unidiff (a unified diff made from the edits) and certs (the
// webhook's CA and serving certificate).
//
// Test harness, benchmarks and the image builder live under
// kmirror.dev/kmirror/internal and are not importable.
package pkg
