package registry

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/singleflight"
)

// Options configure a Client. The zero value reads credentials from the
// Docker config and speaks HTTPS to every registry.
type Options struct {
	// Keychain finds the credentials for a registry; nil is
	// authn.DefaultKeychain, which reads $DOCKER_CONFIG/config.json or
	// ~/.docker/config.json and runs its credential helpers.
	Keychain authn.Keychain
	// ConfigFile, when set and Keychain is nil, is the Docker config file
	// credentials come from (see ConfigKeychain), instead of the default
	// locations.
	ConfigFile string
	// ExtraKeychain, when set, is asked for the credentials of a registry
	// that Keychain (or the Docker config) has none for, such as the
	// tokens of Amazon ECR (package ecr): the Docker config wins.
	ExtraKeychain authn.Keychain
	// Repositories, when set, makes each target repository exist before
	// the first write to it (Amazon ECR: package ecr).
	Repositories RepositoryCreator
	// PlainHTTP names the registries (host or host:port) reached over
	// plain HTTP, such as a local test registry.
	PlainHTTP []string
	// Transport sends the requests; nil is defaultTransport, which trusts
	// the system's certificate pool (and SSL_CERT_FILE).
	Transport http.RoundTripper
	// Retry is the retry policy of every request.
	Retry Retry
	// HeaderTimeout fails a request whose response headers do not come
	// within it of the request being sent; zero is DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// IdleTimeout fails a transfer that moves no byte of a request or
	// response body for this long; zero is DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Jobs is how many blobs of one image are copied at once; zero is 4.
	Jobs int
	// UserAgent is sent with every request.
	UserAgent string
}

// Client reaches registries. It is safe for concurrent use, and remembers
// which mirror repositories hold which blobs, so that a later copy mounts
// a blob from one repository into another instead of uploading it again.
type Client struct {
	keychain  authn.Keychain
	plain     map[string]bool
	transport http.RoundTripper
	jobs      int
	userAgent string
	blobs     *blobIndex
	// repositories is Options.Repositories.
	repositories RepositoryCreator
	// flights are the copies in flight, by target repository and digest.
	flights singleflight.Group
	// config is Options.ConfigFile, for messages.
	config string
}

// New returns a Client for o. Every name in o.PlainHTTP must be a registry.
func New(o Options) (*Client, error) {
	c := &Client{
		keychain:  o.Keychain,
		plain:     map[string]bool{},
		jobs:      o.Jobs,
		userAgent: o.UserAgent,
		blobs:     newBlobIndex(),

		repositories: o.Repositories,
	}
	switch {
	case c.keychain != nil:
	case o.ConfigFile != "":
		c.keychain, c.config = ConfigKeychain(o.ConfigFile), o.ConfigFile
	default:
		c.keychain = authn.DefaultKeychain
	}
	if o.ExtraKeychain != nil {
		c.keychain = authn.NewMultiKeychain(c.keychain, o.ExtraKeychain)
	}
	if c.jobs <= 0 {
		c.jobs = 4
	}
	for _, h := range o.PlainHTTP {
		reg, err := name.NewRegistry(h)
		if err != nil || strings.Contains(h, "/") {
			return nil, fmt.Errorf("plain-HTTP registry %q is not a registry host[:port]", h)
		}
		c.plain[reg.RegistryStr()] = true
	}
	inner := o.Transport
	if inner == nil {
		inner = defaultTransport()
	}
	stall := &stallTransport{inner: inner, header: cmp.Or(o.HeaderTimeout, DefaultHeaderTimeout), idle: cmp.Or(o.IdleTimeout, DefaultIdleTimeout)}
	c.transport = &retryTransport{
		inner:  &guardTransport{inner: stall, plain: c.plain},
		policy: o.Retry.withDefaults(),
		sleep:  sleepContext,
	}
	return c, nil
}

// Ref is a parsed image reference. Unlike name.Reference it keeps both
// the tag and the digest of a "repo:tag@sha256:..." reference.
type Ref struct {
	Repo name.Repository
	// Tag is the tag as written; "" when there is none.
	Tag string
	// Digest is the digest as written; "" when there is none.
	Digest string
}

// Parse parses an image reference by the Docker grammar (a name without a
// registry is on Docker Hub), marking registries in Options.PlainHTTP
// insecure.
func (c *Client) Parse(s string) (Ref, error) {
	base, digest, _ := strings.Cut(s, "@")
	var opts []name.Option
	repo, err := name.NewRepository(repoPart(base))
	if err == nil && c.plain[repo.RegistryStr()] {
		opts = append(opts, name.Insecure)
	}
	if _, err := name.ParseReference(s, opts...); err != nil {
		return Ref{}, fmt.Errorf("parsing image %q: %w", s, err)
	}
	repo, err = name.NewRepository(repoPart(base), opts...)
	if err != nil {
		return Ref{}, fmt.Errorf("parsing image %q: %w", s, err)
	}
	r := Ref{Repo: repo, Digest: digest}
	if base != repoPart(base) {
		r.Tag = base[len(repoPart(base))+1:]
	}
	return r, nil
}

// repoPart strips the tag from "repo[:tag]".
func repoPart(base string) string {
	slash := strings.LastIndex(base, "/")
	if i := strings.LastIndex(base, ":"); i > slash {
		return base[:i]
	}
	return base
}

// Pull is the reference a runtime pulls: the digest when there is one,
// else the tag ("latest" when none is written).
func (r Ref) Pull() name.Reference {
	if r.Digest != "" {
		return r.Repo.Digest(r.Digest)
	}
	return r.Repo.Tag(r.tag())
}

// Push is the reference a push writes: the tag when one is written (or
// implied), else the digest.
func (r Ref) Push() name.Reference {
	if r.Tag == "" && r.Digest != "" {
		return r.Repo.Digest(r.Digest)
	}
	return r.Repo.Tag(r.tag())
}

func (r Ref) tag() string {
	if r.Tag == "" {
		return name.DefaultTag
	}
	return r.Tag
}

// String is the full reference, with the registry.
func (r Ref) String() string {
	s := r.Repo.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// options are the remote options of every request.
func (c *Client) options(ctxOpt remote.Option, extra ...remote.Option) []remote.Option {
	return append([]remote.Option{
		ctxOpt,
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(c.transport),
		remote.WithJobs(c.jobs),
		remote.WithUserAgent(c.userAgent),
		// retryTransport retries requests; ggcr starts an upload over only
		// when its PATCH failed (see uploadRetry).
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(uploadRetry),
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.2, Steps: 3}),
	}, extra...)
}

// defaultTransport is go-containerregistry's default transport, but
// speaking HTTP/1.1 only. Blobs then go over connections of their own
// rather than as streams of one HTTP/2 connection, which cost kmirror and
// both registries less CPU where we measured it (distribution to
// distribution, 2 cores): a sixth less in all.
func defaultTransport() http.RoundTripper {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   50,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A non-nil, empty map turns HTTP/2 off.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
}
