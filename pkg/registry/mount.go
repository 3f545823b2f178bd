package registry

import (
	"bytes"
	"context"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// blobIndex remembers a repository of each mirror registry that holds a
// blob, from the copies this Client finished.
type blobIndex struct {
	mu    sync.Mutex
	repos map[blobKey]name.Repository
}

type blobKey struct {
	registry string
	digest   v1.Hash
}

func newBlobIndex() *blobIndex {
	return &blobIndex{repos: map[blobKey]name.Repository{}}
}

// mounter points the layers of one copy at a repository of the mirror that
// holds them, so that go-containerregistry mounts them from there, and
// records the blobs of the copy once it succeeded.
type mounter struct {
	index *blobIndex
	dst   name.Repository
	mu    sync.Mutex
	seen  []v1.Hash
}

func (m *mounter) layer(l v1.Layer) v1.Layer {
	h, err := l.Digest()
	if err != nil {
		return l
	}
	m.mu.Lock()
	m.seen = append(m.seen, h)
	m.mu.Unlock()
	m.index.mu.Lock()
	repo, ok := m.index.repos[blobKey{m.dst.RegistryStr(), h}]
	m.index.mu.Unlock()
	if !ok || repo.String() == m.dst.String() {
		return l
	}
	if ml, ok := l.(*remote.MountableLayer); ok {
		l = ml.Layer
	}
	return &remote.MountableLayer{Layer: l, Reference: repo.Digest(h.String())}
}

// commit records that the target repository holds every blob seen.
func (m *mounter) commit() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.index.mu.Lock()
	defer m.index.mu.Unlock()
	for _, h := range m.seen {
		m.index.repos[blobKey{m.dst.RegistryStr(), h}] = m.dst
	}
}

// sourceReader reads the children of an index being copied, through one
// Puller: one login to the source for the whole copy.
type sourceReader struct {
	ctx    context.Context
	puller *remote.Puller
	repo   name.Repository
	m      *mounter
}

func (r *sourceReader) get(h v1.Hash) (*remote.Descriptor, error) {
	return r.puller.Get(r.ctx, r.repo.Digest(h.String()))
}

// index parses the index desc once. go-containerregistry's remote index
// parses the whole index again for each child it hands out, which made
// a copy's time grow as the square of the index's entries.
func (r *sourceReader) index(desc *remote.Descriptor) (*mountIndex, error) {
	m, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, err
	}
	return &mountIndex{raw: desc.Manifest, mediaType: desc.MediaType, digest: desc.Digest, manifest: m, r: r}, nil
}

// mountIndex is an index of the source, parsed once, whose images hand out
// their layers through the copy's mounter. Its manifest is the source's,
// byte for byte.
type mountIndex struct {
	raw       []byte
	mediaType types.MediaType
	digest    v1.Hash
	// manifest is shared: the callers, ggcr's push and mutate, read it
	// or copy it.
	manifest *v1.IndexManifest
	r        *sourceReader
}

func (i *mountIndex) MediaType() (types.MediaType, error)       { return i.mediaType, nil }
func (i *mountIndex) Digest() (v1.Hash, error)                  { return i.digest, nil }
func (i *mountIndex) Size() (int64, error)                      { return int64(len(i.raw)), nil }
func (i *mountIndex) IndexManifest() (*v1.IndexManifest, error) { return i.manifest, nil }
func (i *mountIndex) RawManifest() ([]byte, error)              { return i.raw, nil }

func (i *mountIndex) Image(h v1.Hash) (v1.Image, error) {
	desc, err := i.r.get(h)
	if err != nil {
		return nil, err
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	return &mountImage{Image: img, m: i.r.m}, nil
}

func (i *mountIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	desc, err := i.r.get(h)
	if err != nil {
		return nil, err
	}
	return i.r.index(desc)
}

// Layer keeps go-containerregistry's handling of an index entry that is
// neither an image nor an index: it is copied as a blob.
func (i *mountIndex) Layer(h v1.Hash) (v1.Layer, error) {
	return i.r.puller.Layer(i.r.ctx, i.r.repo.Digest(h.String()))
}

// mountImage hands out the layers of a source image through a mounter.
// Every other method, the raw manifest included, is the source's.
type mountImage struct {
	v1.Image
	m *mounter
}

func (i *mountImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = i.m.layer(l)
	}
	return out, nil
}

func (i *mountImage) ConfigLayer() (v1.Layer, error) {
	l, err := partial.ConfigLayer(i.Image)
	if err != nil {
		return nil, err
	}
	return i.m.layer(l), nil
}
