package registry

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Prober sends the HEAD requests of a process that runs for long, such as
// the webhook's checks of the mirror. Client.Head logs in for each
// request: a ping of the registry, a token from its token service, then
// the HEAD. A Prober keeps the logged-in transport of each repository it
// reached (go-containerregistry's remote.Puller), so that another HEAD in
// the same repository is one request, over a connection kept alive.
//
// It keeps the most recently used repositories, up to a bound, each for
// a while: credentials that change (a Secret updated in place) are read
// again then, and at once after a registry denied access.
type Prober struct {
	c      *Client
	max    int
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	repos map[string]*list.Element
	// lru holds *probed, the most recently used first.
	lru *list.List
}

// probed is the logged-in transport of one repository.
type probed struct {
	repo   string
	puller *remote.Puller
	made   time.Time
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
	if repos <= 0 {
		repos = DefaultProberRepos
	}
	if maxAge <= 0 {
		maxAge = DefaultProberMaxAge
	}
	return &Prober{c: c, max: repos, maxAge: maxAge, now: time.Now, repos: map[string]*list.Element{}, lru: list.New()}
}

// Head is Client.Head through the repository's kept transport.
func (p *Prober) Head(ctx context.Context, image string) (*v1.Descriptor, error) {
	ref, err := p.c.Parse(image)
	if err != nil {
		return nil, err
	}
	pl, err := p.puller(ref.Repo)
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

// puller returns the Puller of repo, made anew when there is none or it is
// too old.
func (p *Prober) puller(repo name.Repository) (*remote.Puller, error) {
	key := repo.Name()
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.repos[key]; ok {
		pr := e.Value.(*probed)
		if now.Sub(pr.made) < p.maxAge {
			p.lru.MoveToFront(e)
			return pr.puller, nil
		}
		p.lru.Remove(e)
		delete(p.repos, key)
	}
	// The context of a Puller's options is not used: each request has its
	// own.
	pl, err := remote.NewPuller(p.c.options(remote.WithContext(context.Background()))...)
	if err != nil {
		return nil, err
	}
	p.repos[key] = p.lru.PushFront(&probed{repo: key, puller: pl, made: now})
	for p.lru.Len() > p.max {
		old := p.lru.Remove(p.lru.Back()).(*probed)
		delete(p.repos, old.repo)
	}
	return pl, nil
}

// forget drops the transport of repo, if it is still pl.
func (p *Prober) forget(repo string, pl *remote.Puller) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.repos[repo]; ok && e.Value.(*probed).puller == pl {
		p.lru.Remove(e)
		delete(p.repos, repo)
	}
}

// repositories is how many repositories the Prober keeps a transport for.
func (p *Prober) repositories() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.Len()
}
