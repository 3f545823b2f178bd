// Package image parses container image references and matches them against
// registry and repository prefixes, keeping the form each was written in.
//
// The grammar is Docker's, as implemented by github.com/distribution/reference:
//
//	reference  := name [ ":" tag ] [ "@" digest ]
//	name       := [ host "/" ] path
//	host       := the first path component, when it contains "." or ":",
//	              is exactly "localhost", or has an upper-case letter
//	path       := component { "/" component }
//
// A name without a host is on Docker Hub, and a one-component Docker Hub path
// lives under "library/": "nginx" is "docker.io/library/nginx". Docker Hub
// also answers to "index.docker.io" and "registry-1.docker.io"; all three
// spellings are the same registry here.
//
// Matching uses the canonical form (registry and full repository path), but
// nothing is ever rewritten into it: [Prefix.Match] returns the rest of the
// reference exactly as written, so "busybox:1.36" stays "busybox:1.36" after
// a mirror prefix and "docker.io/library/nginx" stays "library/nginx".
//
// A prefix (the "from" and "to" of a mirror rule) is a name without tag or
// digest, read by the same host rule: "k8s.gcr.io/" is a registry,
// "gcr.io/google-containers/" a repository prefix on it, and "bitnami/" the
// bitnami namespace on Docker Hub. Prefixes match whole path components:
// "gcr.io/google" does not match "gcr.io/google-containers/pause".
package image
