package registry

import (
	"fmt"
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

// mountIndex and mountImage hand out layers through a mounter. Every
// other method, the raw manifests included, is the source's.
type mountIndex struct {
	base v1.ImageIndex
	m    *mounter
}

func (i *mountIndex) MediaType() (types.MediaType, error)       { return i.base.MediaType() }
func (i *mountIndex) Digest() (v1.Hash, error)                  { return i.base.Digest() }
func (i *mountIndex) Size() (int64, error)                      { return i.base.Size() }
func (i *mountIndex) IndexManifest() (*v1.IndexManifest, error) { return i.base.IndexManifest() }
func (i *mountIndex) RawManifest() ([]byte, error)              { return i.base.RawManifest() }

func (i *mountIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := i.base.Image(h)
	if err != nil {
		return nil, err
	}
	return &mountImage{Image: img, m: i.m}, nil
}

func (i *mountIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := i.base.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return &mountIndex{base: idx, m: i.m}, nil
}

// Layer keeps go-containerregistry's handling of an index entry that is
// neither an image nor an index: it is copied as a blob.
func (i *mountIndex) Layer(h v1.Hash) (v1.Layer, error) {
	if wl, ok := i.base.(interface {
		Layer(v1.Hash) (v1.Layer, error)
	}); ok {
		return wl.Layer(h)
	}
	return nil, fmt.Errorf("index entry %s is neither an image nor an index", h)
}

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
