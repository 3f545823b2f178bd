package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// cosignSuffixes end the tags under which cosign attaches artifacts to
// the manifest sha256:<hex> in its repository: sha256-<hex>.sig and so on.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// artifact is a manifest attached to a subject.
type artifact struct {
	v1.Descriptor
	// tag is the cosign tag that names it, "" for an OCI referrer.
	tag string
}

// digestTag is the tag of a digest in the OCI fallback scheme, and the
// stem of cosign's tags: sha256-<hex>.
func digestTag(h v1.Hash) string { return h.Algorithm + "-" + h.Hex }

// getManifest reads the manifest at ref. The manifests this file reads
// go through here.
func (c *Client) getManifest(ctx context.Context, ref name.Reference, opts []remote.Option) (*remote.Descriptor, error) {
	return remote.Get(ref, append(opts, remote.WithContext(ctx))...)
}

// readerOptions are the options of the reads of one walk over a
// repository: one remote.Puller, made with extra, logs in once for all.
func (c *Client) readerOptions(ctx context.Context, extra ...remote.Option) ([]remote.Option, error) {
	p, err := remote.NewPuller(c.options(remote.WithContext(ctx), extra...)...)
	if err != nil {
		return nil, err
	}
	return c.options(remote.WithContext(ctx), remote.Reuse(p)), nil
}

// subjects are the manifests of the image at digest in repo: digest and,
// for an index, its children (one level: an index of indexes is rare).
func (c *Client) subjects(ctx context.Context, img Ref, digest string, opts []remote.Option) ([]v1.Hash, error) {
	desc, err := c.getManifest(ctx, img.Repo.Digest(digest), opts)
	if err != nil {
		return nil, c.wrap("reading", img, err)
	}
	out := []v1.Hash{desc.Digest}
	if !desc.MediaType.IsIndex() {
		return out, nil
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", img, err)
	}
	for _, d := range im.Manifests {
		out = append(out, d.Digest)
	}
	return out, nil
}

// look is what a look at a repository found out about the artifacts
// attached in it, so that a manifest with nothing attached costs no
// request: most registries hold none, and have no referrers API.
type look struct {
	repo name.Repository
	opts []remote.Option
	// api lists the referrers of every subject with remote.Referrers: the
	// registry has the referrers API, or nobody looked and remote's
	// Puller in opts falls back to the tag scheme. Otherwise the fallback
	// tag is read where there is one.
	api bool
	// tags holds the repository's digest tags (sha256-<hex>...): OCI
	// fallback tags and cosign's. It is nil when the registry would not
	// list them, or nobody asked: each tag is then looked up.
	tags map[string]bool
}

// newLook asks whether repo's registry has the referrers API, with the
// referrers of probe, and lists the repository's tags.
func (c *Client) newLook(ctx context.Context, repo name.Repository, probe v1.Hash) (*look, error) {
	// A Puller keeps its own options: this one does not fall back.
	opts, err := c.readerOptions(ctx, remote.WithReferrersTagFallback(false))
	if err != nil {
		return nil, err
	}
	l := &look{repo: repo, opts: opts}
	_, err = remote.Referrers(repo.Digest(probe.String()), append(opts, remote.WithContext(ctx))...)
	switch {
	case err == nil:
		l.api = true
	case !noReferrersAPI(err):
		return nil, c.wrap("listing the referrers of", Ref{Repo: repo, Digest: probe.String()}, err)
	}
	tags, err := remote.List(repo, append(opts, remote.WithContext(ctx))...)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err == nil {
		// A registry that refuses to list (an IAM policy without
		// ecr:ListImages) leaves tags nil.
		l.tags = map[string]bool{}
		for _, t := range tags {
			if digestTagged.MatchString(t) {
				l.tags[t] = true
			}
		}
	}
	return l, nil
}

// digestTagged matches the tags that name a digest: sha256-<hex>, and
// cosign's sha256-<hex>.sig and the like.
var digestTagged = regexp.MustCompile(`^[a-z0-9]+-[0-9a-f]{32,}(\.|$)`)

// noReferrersAPI reports whether err is go-containerregistry's refusal to
// fall back to the tag scheme (remote.WithReferrersTagFallback(false)) on
// a registry without the referrers API, rather than a registry's answer
// or a failed connection.
func noReferrersAPI(err error) bool {
	var (
		terr *transport.Error
		uerr *url.Error
	)
	return !errors.As(err, &terr) && !errors.As(err, &uerr) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "does not support the Referrers API")
}

// none reports that nothing is attached to anything in the repository.
func (l *look) none() bool { return !l.api && l.tags != nil && len(l.tags) == 0 }

// may reports whether the repository may hold tag.
func (l *look) may(tag string) bool { return l.tags == nil || l.tags[tag] }

// attached lists the artifacts attached to subject in l's repository:
// its OCI referrers (through the referrers API, or on a registry without
// one the fallback tag sha256-<hex>) and cosign's tags. with chooses which
// of the two to look for.
func (c *Client) attached(ctx context.Context, l *look, subject v1.Hash, with kinds) ([]artifact, error) {
	var out []artifact
	if with.referrers {
		descs, err := c.referrers(ctx, l, subject)
		if err != nil {
			return nil, err
		}
		for _, d := range descs {
			out = append(out, artifact{Descriptor: d})
		}
	}
	for _, suffix := range with.tags {
		tag := digestTag(subject) + suffix
		if !l.may(tag) {
			continue
		}
		desc, err := remote.Head(l.repo.Tag(tag), append(l.opts, remote.WithContext(ctx))...)
		if err = c.wrap("checking", Ref{Repo: l.repo, Tag: tag}, err); errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, artifact{Descriptor: *desc, tag: tag})
	}
	return out, nil
}

// referrers lists the OCI referrers of subject in l's repository.
func (c *Client) referrers(ctx context.Context, l *look, subject v1.Hash) ([]v1.Descriptor, error) {
	img := Ref{Repo: l.repo, Digest: subject.String()}
	var raw []byte
	switch fallback := digestTag(subject); {
	case l.api:
		idx, err := remote.Referrers(l.repo.Digest(subject.String()), append(l.opts, remote.WithContext(ctx))...)
		if err != nil {
			return nil, c.wrap("listing the referrers of", img, err)
		}
		if raw, err = idx.RawManifest(); err != nil {
			return nil, c.wrap("listing the referrers of", img, err)
		}
	case l.may(fallback):
		desc, err := c.getManifest(ctx, l.repo.Tag(fallback), l.opts)
		if err = c.wrap("listing the referrers of", img, err); errors.Is(err, ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
		raw = desc.Manifest
	default:
		return nil, nil
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", img, err)
	}
	return im.Manifests, nil
}

// kinds says which artifacts attached looks for.
type kinds struct {
	referrers bool
	tags      []string
}

var allKinds = kinds{referrers: true, tags: cosignSuffixes}

// lacking returns the artifacts of subject in want that l's repository
// lacks: a referrer it does not list, a tag that names another digest or
// nothing.
func (c *Client) lacking(ctx context.Context, l *look, subject v1.Hash, want []artifact) ([]artifact, error) {
	with := kinds{}
	for _, a := range want {
		if a.tag == "" {
			with.referrers = true
		} else {
			with.tags = append(with.tags, a.tag[len(digestTag(subject)):])
		}
	}
	have, err := c.attached(ctx, l, subject, with)
	if err != nil {
		return nil, err
	}
	type key struct {
		digest v1.Hash
		tag    string
	}
	held := map[key]bool{}
	for _, a := range have {
		held[key{a.Digest, a.tag}] = true
	}
	var out []artifact
	for _, a := range want {
		if !held[key{a.Digest, a.tag}] {
			out = append(out, a)
		}
	}
	return out, nil
}
