package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The kinds of failure that callers act on, for errors.Is.
var (
	// ErrNotFound: the registry answered that it does not hold the image.
	ErrNotFound = errors.New("not found")
	// ErrDenied: the registry refused the credentials, or has none for us.
	ErrDenied = errors.New("access denied")
	// ErrRateLimited: the registry answered 429 after every retry.
	ErrRateLimited = errors.New("rate limited")
	// ErrNoRepository: a write found no repository to write to
	// (NAME_UNKNOWN): Amazon ECR, Harbor and Artifact Registry take no push
	// to a repository (or project) that was not made first.
	ErrNoRepository = errors.New("no such repository")
)

// Error is a failed request about one image, saying which registry
// answered what.
type Error struct {
	// Op is what was being done: "checking", "reading", "writing".
	Op string
	// Image is the reference the request was about.
	Image string
	// Registry is the registry that answered.
	Registry string
	// Kind is ErrNotFound, ErrDenied, ErrRateLimited, ErrNoRepository,
	// or nil.
	Kind error
	Err  error
	// Config is the Docker config file the credentials came from; ""
	// names the default one.
	Config string
	// Repository is the repository of Image, without the registry.
	Repository string
	// RetryAfter is the wait that a rate-limiting registry asked for in
	// its last answer's Retry-After; zero when it asked for none.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	switch e.Kind {
	case ErrNotFound:
		return fmt.Sprintf("%s %s: not found in %s", e.Op, e.Image, e.Registry)
	case ErrDenied:
		config := e.Config
		if config == "" {
			config = dockerConfig()
		}
		msg := fmt.Sprintf("%s %s: %s denied access (%v); check the credentials for %s in %s",
			e.Op, e.Image, e.Registry, e.Err, e.Registry, config)
		if e.Registry == name.DefaultRegistry {
			msg += ", and that the repository exists: Docker Hub answers so for one that does not"
		}
		return msg
	case ErrRateLimited:
		wait := "without saying how long to wait"
		if e.RetryAfter > 0 {
			wait = "and asked to wait " + e.RetryAfter.Round(time.Second).String()
		}
		return fmt.Sprintf("%s %s: %s is rate limiting (%v), %s", e.Op, e.Image, e.Registry, e.Err, wait)
	case ErrNoRepository:
		return fmt.Sprintf("%s %s: %s has no repository %s (%v); create it first (a Harbor project, an Artifact Registry repository), "+
			"or, on Amazon ECR, let kmirror create it with --create-repositories (the default for ECR hosts; --ecr HOST marks another host as ECR)",
			e.Op, e.Image, e.Registry, e.Repository, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Image, e.Err)
}

// Is makes errors.Is(err, ErrNotFound) and the like work.
func (e *Error) Is(target error) bool { return target != nil && e.Kind == target }

func (e *Error) Unwrap() error { return e.Err }

// wrap classifies err from a request about img, naming the Docker config
// file the credentials came from.
func (c *Client) wrap(op string, img Ref, err error) error {
	if err == nil {
		return nil
	}
	var (
		e    *Error
		terr *transport.Error
	)
	if errors.As(err, &e) || errors.Is(err, context.Canceled) {
		return err
	}
	out := &Error{Op: op, Image: img.String(), Registry: img.Repo.RegistryStr(), Err: httpsError(err), Config: c.config, Repository: img.Repo.RepositoryStr()}
	if errors.As(err, &terr) {
		out.Kind = statusKind(terr)
		if op == "writing" && noRepository(terr) {
			out.Kind = ErrNoRepository
		}
		if terr.Request != nil {
			out.RetryAfter, _ = terr.Request.Context().Value(askedWaitKey{}).(time.Duration)
		}
	}
	return out
}

// httpsError is the HTTPS half of err when err holds a refusal of plain
// HTTP that does not apply. go-containerregistry pings a registry on
// localhost or a private address over plain HTTP too when HTTPS fails, and
// guardTransport refuses that with advice to allow plain HTTP; the advice
// is right when the registry answered HTTPS in plain HTTP, but a registry
// that is down or unreachable would be told to use --plain-http.
func httpsError(err error) error {
	var (
		plain *plainHTTPError
		uerr  *url.Error
	)
	if !errors.As(err, &plain) || errors.Is(err, http.ErrSchemeMismatch) {
		return err
	}
	// The pings' errors come HTTPS first.
	if errors.As(err, &uerr) && strings.HasPrefix(uerr.URL, "https://") {
		return uerr
	}
	return err
}

// noRepository reports whether a registry answered a write that the
// repository does not exist: NAME_UNKNOWN, or a 404 that names no blob or
// manifest (Harbor's for a project that does not exist).
func noRepository(terr *transport.Error) bool {
	if terr.StatusCode != http.StatusNotFound {
		return false
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.NameUnknownErrorCode:
			return true
		case transport.BlobUnknownErrorCode, transport.ManifestUnknownErrorCode:
			return false
		}
	}
	return true
}

func statusKind(terr *transport.Error) error {
	switch terr.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrDenied
	case http.StatusTooManyRequests:
		return ErrRateLimited
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return ErrNotFound
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return ErrDenied
		case transport.TooManyRequestsErrorCode:
			return ErrRateLimited
		}
	}
	return nil
}

// dockerConfig names the file the default keychain reads, for messages.
func dockerConfig() string {
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "config.json")
	}
	return "~/.docker/config.json"
}
