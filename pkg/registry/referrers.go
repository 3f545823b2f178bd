package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"
)

// ReferrerCount counts the artifacts attached to an image that a copy
// found in its source: OCI 1.1 referrers and cosign's tag-scheme
// artifacts, of the image's manifests and of those artifacts in turn.
type ReferrerCount struct {
	// Copied counts the artifacts written to the mirror.
	Copied int `json:"copied"`
	// Present counts those the mirror held already.
	Present int `json:"present"`
}

// Add adds the counts of o to n.
func (n *ReferrerCount) Add(o ReferrerCount) {
	n.Copied += o.Copied
	n.Present += o.Present
}

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

// copyReferrers copies into dst the artifacts attached in src to the
// image that dst holds at target, whose source is source: those of each of
// its manifests (a platform subset's new index has none: its children's
// are copied), then those attached to them, and so on. The artifacts of
// one subject are written one at a time, since each may rewrite the
// subject's fallback tag in a mirror without the referrers API; subjects
// go Options.Jobs at a time.
func (c *Client) copyReferrers(ctx context.Context, src, dst Ref, source, target string) (ReferrerCount, error) {
	var n ReferrerCount
	dstOpts, err := c.readerOptions(ctx)
	if err != nil {
		return n, err
	}
	probe, err := v1.NewHash(source)
	if err != nil {
		return n, fmt.Errorf("reading %s: %w", src, err)
	}
	from, err := c.newLook(ctx, src.Repo, probe)
	if err != nil || from.none() {
		return n, err
	}
	to := &look{repo: dst.Repo, opts: dstOpts, api: true}
	// The mirror holds the image now; reading it there spares the source
	// (Docker Hub counts a GET of a manifest as a pull).
	subjects, err := c.subjects(ctx, dst, target, dstOpts)
	if err != nil {
		return n, err
	}
	if source != target {
		subjects = subjects[1:]
	}
	seen := map[v1.Hash]bool{}
	var mu sync.Mutex
	for len(subjects) > 0 {
		var next []v1.Hash
		g, ctx := errgroup.WithContext(ctx)
		g.SetLimit(c.jobs)
		for _, s := range subjects {
			seen[s] = true
			g.Go(func() error {
				arts, copied, err := c.copySubject(ctx, from, to, s)
				mu.Lock()
				defer mu.Unlock()
				n.Copied += copied
				n.Present += len(arts) - copied
				for _, a := range arts {
					next = append(next, a.Digest)
				}
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return n, err
		}
		subjects = subjects[:0]
		for _, h := range next {
			if !seen[h] {
				seen[h] = true
				subjects = append(subjects, h)
			}
		}
	}
	return n, nil
}

// copySubject copies the artifacts attached to subject in from that to
// lacks, and returns them all and how many it copied.
func (c *Client) copySubject(ctx context.Context, from, to *look, subject v1.Hash) ([]artifact, int, error) {
	arts, err := c.attached(ctx, from, subject, allKinds)
	if err != nil || len(arts) == 0 {
		return nil, 0, err
	}
	defer lockSubject(to.repo, subject)()
	missing, err := c.lacking(ctx, to, subject, arts)
	if err != nil {
		return nil, 0, err
	}
	for i, a := range missing {
		if err := c.copyArtifact(ctx, from.repo, to, a); err != nil {
			return arts, i, err
		}
	}
	return arts, len(missing), nil
}

// copyArtifact copies one artifact from src, byte for byte, as Copy
// copies an image: a referrer by its digest, a cosign artifact under its
// tag.
func (c *Client) copyArtifact(ctx context.Context, src name.Repository, to *look, a artifact) error {
	digest := a.Digest.String()
	s, d := Ref{Repo: src, Digest: digest}, Ref{Repo: to.repo, Tag: a.tag, Digest: digest}
	if a.tag == "" {
		// go-containerregistry's push skips a manifest the mirror holds,
		// and with it the update of the subject's fallback tag that makes
		// the mirror list it: a copy cut short between the two would stay
		// unlisted. Putting the manifest again lists it.
		if _, err := remote.Head(to.repo.Digest(digest), append(to.opts, remote.WithContext(ctx))...); err == nil {
			desc, err := c.getManifest(ctx, src.Digest(digest), c.options(remote.WithContext(ctx)))
			if err != nil {
				return c.wrap("reading", s, err)
			}
			return c.wrap("writing", d, remote.Put(to.repo.Digest(digest), desc, c.options(remote.WithContext(ctx))...))
		}
	}
	_, err := c.copy(ctx, s, d, digest, CopyOptions{})
	return err
}

// subjectLocks serialize the writes of the artifacts of one subject in
// one repository, in this process: go-containerregistry updates a
// fallback tag by reading it and writing it again, so two writers at once
// could lose one's referrer. Two pairs of a sync can name one image
// (app:1 and app:latest).
var subjectLocks [64]sync.Mutex

func lockSubject(repo name.Repository, subject v1.Hash) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(repo.Name() + "@" + subject.String()))
	mu := &subjectLocks[h.Sum32()%uint32(len(subjectLocks))]
	mu.Lock()
	return mu.Unlock
}

// withReferrers copies the artifacts attached to the image of res, once
// the mirror holds it, when o asks for them.
func (c *Client) withReferrers(ctx context.Context, src, dst Ref, res CopyResult, err error, o CopyOptions) (CopyResult, error) {
	if err != nil || !o.Referrers {
		return res, err
	}
	var sent atomic.Int64
	res.Referrers, err = c.copyReferrers(withCounter(ctx, &sent), src, dst, res.Source, res.Digest)
	res.Bytes += sent.Load()
	if err != nil {
		err = fmt.Errorf("copying what is attached to %s: %w", src, err)
	}
	return res, err
}

// signatureTypes are the artifactTypes of the referrers that sign their
// subject: cosign's (--registry-referrers-mode=oci-1-1), Notation's, and
// a Sigstore bundle.
var signatureTypes = map[string]bool{
	"application/vnd.dev.cosign.artifact.sig.v1+json":      true,
	"application/vnd.cncf.notary.signature":                true,
	"application/vnd.dev.sigstore.bundle.v0.3+json":        true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
}

// MissingSignatures returns the signatures that src's repository attaches
// to the image dst holds at digest, to it and to the children of an
// index, and that dst's repository lacks: cosign's sha256-<hex>.sig tags,
// and OCI 1.1 referrers whose artifactType is a signature's. Each is named
// by its tag, or by its digest and artifactType.
func (c *Client) MissingSignatures(ctx context.Context, src, dst, digest string) ([]string, error) {
	s, err := c.Parse(src)
	if err != nil {
		return nil, err
	}
	d, err := c.Parse(dst)
	if err != nil {
		return nil, err
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, fmt.Errorf("checking the signatures of %s: %w", dst, err)
	}
	from, err := c.newLook(ctx, s.Repo, h)
	if err != nil || from.none() {
		return nil, err
	}
	dstOpts, err := c.readerOptions(ctx)
	if err != nil {
		return nil, err
	}
	to := &look{repo: d.Repo, opts: dstOpts, api: true}
	subjects, err := c.subjects(ctx, d, digest, dstOpts)
	if err != nil {
		return nil, err
	}
	var (
		mu      sync.Mutex
		missing []string
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(c.jobs)
	for _, subject := range subjects {
		g.Go(func() error {
			arts, err := c.attached(ctx, from, subject, kinds{referrers: true, tags: []string{".sig"}})
			if err != nil {
				return err
			}
			arts = slices.DeleteFunc(arts, func(a artifact) bool { return a.tag == "" && !signatureTypes[a.ArtifactType] })
			if len(arts) == 0 {
				return nil
			}
			lack, err := c.lacking(ctx, to, subject, arts)
			mu.Lock()
			defer mu.Unlock()
			for _, a := range lack {
				if a.tag != "" {
					missing = append(missing, a.tag)
				} else {
					missing = append(missing, fmt.Sprintf("%s (%s) of %s", a.Digest, a.ArtifactType, subject))
				}
			}
			return err
		})
	}
	err = g.Wait()
	slices.Sort(missing)
	return missing, err
}
