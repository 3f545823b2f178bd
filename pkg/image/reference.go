package image

import (
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
)

// DockerHub is the canonical registry name of Docker Hub.
const DockerHub = "docker.io"

// dockerHubHosts are the spellings of Docker Hub in references.
var dockerHubHosts = map[string]bool{
	"docker.io":            true,
	"index.docker.io":      true,
	"registry-1.docker.io": true,
}

// ErrInvalid is wrapped by every error about a malformed reference or prefix.
var ErrInvalid = errors.New("invalid image reference")

// Reference is an image reference split into the parts prefix rules need,
// each kept as it was written.
type Reference struct {
	// Written is the reference exactly as given.
	Written string
	// Host is the registry host as written, or "" when the reference names
	// none and so is on Docker Hub.
	Host string
	// Path is the repository path as written, after the host.
	Path string
	// Suffix is the ":tag", "@digest" or ":tag@digest" as written, or "".
	Suffix string
	// Registry is the canonical registry: "docker.io" for every spelling of
	// Docker Hub, otherwise the lower-cased host.
	Registry string
	// Repository is the canonical repository path: "library/nginx" for
	// "nginx".
	Repository string
}

// Parse splits s by the Docker reference grammar. An error wraps ErrInvalid.
func Parse(s string) (Reference, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
	}
	name, suffix := splitSuffix(s)
	host, path := splitHost(name)
	registry := strings.ToLower(reference.Domain(named))
	repo := reference.Path(named)
	if dockerHubHosts[registry] {
		registry = DockerHub
		if !strings.Contains(repo, "/") {
			repo = "library/" + repo
		}
	}
	return Reference{
		Written:    s,
		Host:       host,
		Path:       path,
		Suffix:     suffix,
		Registry:   registry,
		Repository: repo,
	}, nil
}

// splitSuffix cuts the tag and digest off a written reference.
func splitSuffix(s string) (name, suffix string) {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		name, suffix = s[:i], s[i:]
	} else {
		name = s
	}
	slash := strings.LastIndexByte(name, '/')
	if i := strings.LastIndexByte(name, ':'); i > slash {
		name, suffix = name[:i], name[i:]+suffix
	}
	return name, suffix
}

// splitHost applies the grammar's host rule to a written name.
func splitHost(name string) (host, path string) {
	first, rest, ok := strings.Cut(name, "/")
	if ok && isHost(first) {
		return first, rest
	}
	return "", name
}

func isHost(component string) bool {
	return component == "localhost" ||
		strings.ContainsAny(component, ".:") ||
		strings.ToLower(component) != component
}
