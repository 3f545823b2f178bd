package registry

import (
	"context"
	"errors"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/maypok86/otter/v2"
)

// Prober sends the HEAD requests of a process that runs for long, such as
// the webhook's checks of the mirror. Client.Head logs in for each
// request: a ping of the registry, a token from its token service, then
// the HEAD. A Prober keeps the logged-in transport of each repository it
// reached (go-containerregistry's remote.Puller), so that another HEAD in
// the same repository is one request, over a connection kept alive.
//
// It keeps the transports of up to a bound of repositories, in an otter
// cache that evicts the least frequently used, each for a while:
// credentials that change (a Secret updated in place) are read again
// then, and at once after a registry denied access.
type Prober struct {
	c         *Client
	pullers   *otter.Cache[string, *remote.Puller]
	newPuller otter.Loader[string, *remote.Puller]
}

// The bounds of a Prober, unless NewProber is told otherwise. A Puller is a
// few KB; a mirror that a cluster pulls from has hundreds of repositories.
const (
	DefaultProberRepos  = 1024
	DefaultProberMaxAge = 5 * time.Minute
)

// NewProber returns a Prober that keeps the transports of up to repos
// repositories, each for at most maxAge; zero means the defaults.
func (c *Client) NewProber(repos int, maxAge time.Duration) *Prober {
	return c.newProber(repos, maxAge, nil)
}

// newProber is NewProber with the cache's clock; nil is the system's.
func (c *Client) newProber(repos int, maxAge time.Duration, clock otter.Clock) *Prober {
	if repos <= 0 {
		repos = DefaultProberRepos
	}
	if maxAge <= 0 {
		maxAge = DefaultProberMaxAge
	}
	p := &Prober{c: c, pullers: otter.Must(&otter.Options[string, *remote.Puller]{
		MaximumSize:      repos,
		ExpiryCalculator: otter.ExpiryWriting[string, *remote.Puller](maxAge),
		Clock:            clock,
	})}
	p.newPuller = otter.LoaderFunc[string, *remote.Puller](func(context.Context, string) (*remote.Puller, error) {
		// The context of a Puller's options is not used: each request has
		// its own.
		return remote.NewPuller(c.options(remote.WithContext(context.Background()))...)
	})
	return p
}

// Head is Client.Head through the repository's kept transport.
func (p *Prober) Head(ctx context.Context, image string) (*v1.Descriptor, error) {
	ref, err := p.c.Parse(image)
	if err != nil {
		return nil, err
	}
	// Concurrent first requests to a repository share one Puller.
	pl, err := p.pullers.Get(ctx, ref.Repo.Name(), p.newPuller)
	if err != nil {
		return nil, p.c.wrap("checking", ref, err)
	}
	desc, err := pl.Head(ctx, ref.Pull())
	err = p.c.wrap("checking", ref, err)
	if errors.Is(err, ErrDenied) {
		p.forget(ref.Repo.Name(), pl)
	}
	return desc, err
}

// forget drops the transport of repo, if it is still pl.
func (p *Prober) forget(repo string, pl *remote.Puller) {
	p.pullers.ComputeIfPresent(repo, func(kept *remote.Puller) (*remote.Puller, otter.ComputeOp) {
		if kept == pl {
			return nil, otter.InvalidateOp
		}
		return kept, otter.CancelOp
	})
}

// repositories is how many repositories the Prober keeps a transport for.
func (p *Prober) repositories() int {
	p.pullers.CleanUp()
	return p.pullers.EstimatedSize()
}
