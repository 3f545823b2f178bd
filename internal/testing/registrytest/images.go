// Package registrytest makes what the registry tests of kmirror need:
// images with random layers in every shape a registry holds (a Docker
// manifest list, an OCI index, a single image), and real CNCF distribution
// registries serving TLS, with or without basic auth.
package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Format is the family of media types of an image.
type Format int

// The formats.
const (
	Docker Format = iota
	OCI
)

// Spec describes an image to make.
type Spec struct {
	Format Format
	// Platforms, as "os/arch[/variant]"; one platform and Single make a
	// single image, anything else an index.
	Platforms []string
	Single    bool
	// Layers per image, each of LayerSize bytes of random content.
	Layers    int
	LayerSize int
	// Seed makes the content; the same Spec makes the same image.
	Seed uint64
}

// Make builds the image or index of s. Layers are gzip streams of a tar
// holding one file of random bytes, stored without compression so that
// making them costs no CPU; copies keep them as they are.
func Make(s Spec) (v1.ImageIndex, v1.Image, error) {
	rng := rand.New(rand.NewPCG(s.Seed, uint64(len(s.Platforms))))
	var imgs []v1.Image
	for _, p := range s.Platforms {
		img, err := makeImage(rng, s, p)
		if err != nil {
			return nil, nil, err
		}
		imgs = append(imgs, img)
	}
	if s.Single {
		if len(imgs) != 1 {
			return nil, nil, fmt.Errorf("a single image has one platform, not %d", len(imgs))
		}
		return nil, imgs[0], nil
	}
	idx, err := NewIndex(s.Format, imgs)
	return idx, nil, err
}

func makeImage(rng *rand.Rand, s Spec, platform string) (v1.Image, error) {
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	layerType, manifestType, configType := types.DockerLayer, types.DockerManifestSchema2, types.DockerConfigJSON
	if s.Format == OCI {
		layerType, manifestType, configType = types.OCILayer, types.OCIManifestSchema1, types.OCIConfigJSON
	}
	img := mutate.MediaType(empty.Image, manifestType)
	img = mutate.ConfigMediaType(img, configType)
	for i := 0; i < s.Layers; i++ {
		l, err := newLayer(rng, s.LayerSize, layerType)
		if err != nil {
			return nil, err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	return mutate.ConfigFile(img, cf)
}

// layer is a layer whose bytes are all in memory.
type layer struct {
	compressed, uncompressed []byte
	digest, diffID           v1.Hash
	mediaType                types.MediaType
}

func newLayer(rng *rand.Rand, size int, mt types.MediaType) (*layer, error) {
	content := make([]byte, size)
	for i := 0; i+8 <= len(content); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			content[i+j] = byte(v >> (8 * j))
		}
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: "data", Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	tw.Write(content)
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gb, gzip.NoCompression)
	zw.Write(tb.Bytes())
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &layer{
		compressed:   gb.Bytes(),
		uncompressed: tb.Bytes(),
		digest:       sha(gb.Bytes()),
		diffID:       sha(tb.Bytes()),
		mediaType:    mt,
	}, nil
}

func sha(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sha256.Sum256(b))}
}

func (l *layer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *layer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *layer) Size() (int64, error)                { return int64(len(l.compressed)), nil }
func (l *layer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *layer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.compressed)), nil
}
func (l *layer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.uncompressed)), nil
}

// Index is an index written by hand, without the artifactType that
// mutate.AppendManifests adds to each entry (skopeo 1.9 refuses to copy
// such an OCI index with --preserve-digests).
type Index struct {
	raw       []byte
	mediaType types.MediaType
	images    map[v1.Hash]v1.Image
}

// NewIndex makes an index of imgs, each entry with the platform of its
// config.
func NewIndex(f Format, imgs []v1.Image) (*Index, error) {
	mt := types.DockerManifestList
	if f == OCI {
		mt = types.OCIImageIndex
	}
	idx := &Index{mediaType: mt, images: map[v1.Hash]v1.Image{}}
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: mt}
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		desc, err := descriptor(img)
		if err != nil {
			return nil, err
		}
		desc.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		im.Manifests = append(im.Manifests, desc)
		idx.images[desc.Digest] = img
	}
	raw, err := json.Marshal(im)
	idx.raw = raw
	return idx, err
}

func descriptor(img v1.Image) (v1.Descriptor, error) {
	var d v1.Descriptor
	var err error
	if d.MediaType, err = img.MediaType(); err != nil {
		return d, err
	}
	if d.Digest, err = img.Digest(); err != nil {
		return d, err
	}
	d.Size, err = img.Size()
	return d, err
}

func (i *Index) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *Index) Digest() (v1.Hash, error)            { return sha(i.raw), nil }
func (i *Index) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *Index) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *Index) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(i.raw))
}

func (i *Index) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := i.images[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("no image %s in the index", h)
}

func (i *Index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("no index %s in the index", h)
}
