package image

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// Prefix is a registry or repository prefix, such as "k8s.gcr.io/" or
// "docker.io/library/".
type Prefix struct {
	// Written is the prefix as given, always ending in "/".
	Written string
	// Registry is the canonical registry, as in Reference.
	Registry string
	// Path holds the repository path components after the registry; it is
	// empty for a whole registry.
	Path []string
}

// ParsePrefix reads a prefix; the trailing "/" is optional. An error wraps
// ErrInvalid.
func ParsePrefix(s string) (Prefix, error) {
	trimmed := strings.TrimSuffix(s, "/")
	if trimmed == "" {
		return Prefix{}, fmt.Errorf("%w: empty prefix", ErrInvalid)
	}
	// A prefix is valid when some repository can live under it. Parsing one
	// such name checks every component by the reference grammar, and
	// rejects tags and digests.
	if _, err := reference.ParseNormalizedNamed(trimmed + "/x"); err != nil {
		return Prefix{}, fmt.Errorf("%w: %q is not a registry or repository prefix: %v", ErrInvalid, s, err)
	}
	host, path := splitHost(trimmed + "/")
	p := Prefix{Written: trimmed + "/", Registry: strings.ToLower(host)}
	if host == "" || dockerHubHosts[p.Registry] {
		p.Registry = DockerHub
	}
	if path = strings.TrimSuffix(path, "/"); path != "" {
		p.Path = strings.Split(path, "/")
	}
	return p, nil
}

// Match reports whether r lies under p, and if so returns the rest of r as
// written after the prefix, tag and digest included. A prefix that names a
// whole registry keeps the path as written ("busybox:1.36" under
// "docker.io/" is "busybox:1.36"); a longer prefix cuts its components off
// the canonical path. A repository equal to the prefix does not lie under it.
func (p Prefix) Match(r Reference) (rest string, ok bool) {
	if r.Registry != p.Registry {
		return "", false
	}
	if len(p.Path) == 0 {
		return r.Path + r.Suffix, true
	}
	repo := strings.Split(r.Repository, "/")
	if len(repo) <= len(p.Path) {
		return "", false
	}
	for i, c := range p.Path {
		if repo[i] != c {
			return "", false
		}
	}
	return strings.Join(repo[len(p.Path):], "/") + r.Suffix, true
}

// Len is the number of path components the prefix fixes, the registry
// counting as one. The longer of two matching prefixes is the more specific.
func (p Prefix) Len() int { return 1 + len(p.Path) }
