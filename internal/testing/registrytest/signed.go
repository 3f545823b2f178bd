package registrytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types, artifact types and the annotation of the artifacts that
// cosign and oras attach to images.
const (
	// SimpleSigning is the media type of cosign's signed payload.
	SimpleSigning types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// CosignSignatureAnnotation holds the base64 signature of the payload
	// on the layer of a cosign signature.
	CosignSignatureAnnotation = "dev.cosignproject.cosign/signature"
	// CosignSignatureArtifact is the artifactType of a cosign signature
	// attached as an OCI 1.1 referrer (--registry-referrers-mode=oci-1-1).
	CosignSignatureArtifact = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// SPDX is the artifactType of an SPDX SBOM.
	SPDX = "application/spdx+json"
	// EmptyJSON is the media type of the empty config of an artifact.
	EmptyJSON types.MediaType = "application/vnd.oci.empty.v1+json"
)

// simpleSigning is cosign's payload: what is signed is the digest of the
// image, claimed for a repository.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// sign makes cosign's payload for the image digest in repository repo, and
// its signature with key, as cosign sign does with a key pair: ECDSA over
// the SHA-256 of the payload, ASN.1, in base64.
func sign(key *ecdsa.PrivateKey, repo string, digest v1.Hash) (payload []byte, signature string, err error) {
	var p simpleSigning
	p.Critical.Identity.DockerReference = repo
	p.Critical.Image.DockerManifestDigest = digest.String()
	p.Critical.Type = "cosign container image signature"
	payload, err = json.Marshal(p)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	return payload, base64.StdEncoding.EncodeToString(sig), err
}

// CosignSignature is the image cosign pushes under the tag
// sha256-<hex>.sig to sign the image digest of repository repo (a name
// without tag, such as "registry.example.com/team/app"): an OCI manifest
// with one layer, the payload, which carries its signature in an
// annotation.
func CosignSignature(key *ecdsa.PrivateKey, repo string, digest v1.Hash) (v1.Image, error) {
	payload, sig, err := sign(key, repo, digest)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(payload, SimpleSigning),
		Annotations: map[string]string{CosignSignatureAnnotation: sig},
	})
}

// SignatureTag is the tag under which cosign attaches a signature to
// digest: sha256-<hex>.sig.
func SignatureTag(digest v1.Hash) string { return digest.Algorithm + "-" + digest.Hex + ".sig" }

// VerifyCosign checks that manifest, a cosign signature as
// CosignSignature or CosignReferrer make it (read from repo with opts),
// signs digest with the key pub.
func VerifyCosign(manifest []byte, repo name.Repository, pub *ecdsa.PublicKey, digest v1.Hash, opts ...remote.Option) error {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return err
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != SimpleSigning {
		return fmt.Errorf("not a cosign signature: %d layers", len(m.Layers))
	}
	sig, err := base64.StdEncoding.DecodeString(m.Layers[0].Annotations[CosignSignatureAnnotation])
	if err != nil {
		return fmt.Errorf("reading the signature: %w", err)
	}
	l, err := remote.Layer(repo.Digest(m.Layers[0].Digest.String()), opts...)
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	payload, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(pub, sum[:], sig) {
		return errors.New("the signature does not verify")
	}
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return err
	}
	if p.Critical.Image.DockerManifestDigest != digest.String() {
		return fmt.Errorf("the signature is of %s, not %s", p.Critical.Image.DockerManifestDigest, digest)
	}
	return nil
}

// Artifact is an OCI 1.1 artifact that refers to a subject, as oras
// attaches one: a manifest with an artifactType, the empty config, one
// layer, and the subject's descriptor.
type Artifact struct {
	manifest []byte
	blobs    []v1.Layer
}

// NewReferrer makes an artifact of artifactType whose one layer holds
// content, of media type layerType with annotations, that refers to
// subject.
func NewReferrer(subject v1.Descriptor, artifactType string, layerType types.MediaType, content []byte, annotations map[string]string) (*Artifact, error) {
	config := static.NewLayer([]byte("{}"), EmptyJSON)
	layer := static.NewLayer(content, layerType)
	describe := func(l v1.Layer, annotations map[string]string) (v1.Descriptor, error) {
		d, err := partialDescriptor(l)
		d.Annotations = annotations
		return d, err
	}
	configDesc, err := describe(config, nil)
	if err != nil {
		return nil, err
	}
	configDesc.Data = []byte("{}")
	layerDesc, err := describe(layer, annotations)
	if err != nil {
		return nil, err
	}
	subject = v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	b, err := json.Marshal(struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     types.MediaType `json:"mediaType"`
		ArtifactType  string          `json:"artifactType"`
		Config        v1.Descriptor   `json:"config"`
		Layers        []v1.Descriptor `json:"layers"`
		Subject       v1.Descriptor   `json:"subject"`
	}{2, types.OCIManifestSchema1, artifactType, configDesc, []v1.Descriptor{layerDesc}, subject})
	if err != nil {
		return nil, err
	}
	return &Artifact{manifest: b, blobs: []v1.Layer{config, layer}}, nil
}

// CosignReferrer is a cosign signature of subject in repository repo
// attached as an OCI 1.1 referrer, as cosign does with
// --registry-referrers-mode=oci-1-1.
func CosignReferrer(key *ecdsa.PrivateKey, repo string, subject v1.Descriptor) (*Artifact, error) {
	payload, sig, err := sign(key, repo, subject.Digest)
	if err != nil {
		return nil, err
	}
	return NewReferrer(subject, CosignSignatureArtifact, SimpleSigning, payload, map[string]string{CosignSignatureAnnotation: sig})
}

func partialDescriptor(l v1.Layer) (v1.Descriptor, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := l.MediaType()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}, err
}

// RawManifest is the artifact's manifest.
func (a *Artifact) RawManifest() ([]byte, error) { return a.manifest, nil }

// MediaType is an OCI image manifest's.
func (a *Artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// Digest is the digest of the manifest.
func (a *Artifact) Digest() v1.Hash {
	h, _, _ := v1.SHA256(bytes.NewReader(a.manifest))
	return h
}

// Push writes the artifact's blobs and then its manifest into repo, by
// digest. On a registry without the referrers API, go-containerregistry
// then adds it to the subject's fallback tag, as oras and cosign do.
func (a *Artifact) Push(repo name.Repository, opts ...remote.Option) error {
	for _, b := range a.blobs {
		if err := remote.WriteLayer(repo, b, opts...); err != nil {
			return fmt.Errorf("pushing a blob of the artifact: %w", err)
		}
	}
	if err := remote.Put(repo.Digest(a.Digest().String()), a, opts...); err != nil {
		return fmt.Errorf("pushing the artifact: %w", err)
	}
	return nil
}

// Attached is what Attach attached to an image, with the key it signed
// with.
type Attached struct {
	Key *ecdsa.PrivateKey
	// Image is the image's descriptor, and Child that of the first image
	// of an index.
	Image, Child v1.Descriptor
	// Signature is cosign's signature of the image, under the tag
	// SignatureTag(Image.Digest).
	Signature v1.Hash
	// SBOM is an SPDX SBOM that refers to the image, SBOMSignature a
	// cosign signature that refers to the SBOM, and ChildSignature one
	// that refers to Child.
	SBOM, SBOMSignature, ChildSignature v1.Hash
}

// Attach signs the index at digest in repo as a supply chain does, with a
// key it makes: a cosign signature under its tag, an SBOM as a referrer,
// a signature of the SBOM, and a signature of the index's first image,
// both as referrers.
func Attach(repo name.Repository, digest v1.Hash, opts ...remote.Option) (*Attached, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	a := &Attached{Key: key}
	desc, err := remote.Get(repo.Digest(digest.String()), opts...)
	if err != nil {
		return nil, err
	}
	a.Image = desc.Descriptor
	im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil || len(im.Manifests) == 0 {
		return nil, fmt.Errorf("%s is not an index: %v", digest, err)
	}
	a.Child = im.Manifests[0]

	sig, err := CosignSignature(key, repo.Name(), digest)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(repo.Tag(SignatureTag(digest)), sig, opts...); err != nil {
		return nil, fmt.Errorf("pushing the signature: %w", err)
	}
	if a.Signature, err = sig.Digest(); err != nil {
		return nil, err
	}
	sbom, err := NewReferrer(a.Image, SPDX, SPDX, []byte(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"`+repo.Name()+`"}`), nil)
	if err != nil {
		return nil, err
	}
	sbomSig, err := CosignReferrer(key, repo.Name(), sbom.Descriptor())
	if err != nil {
		return nil, err
	}
	childSig, err := CosignReferrer(key, repo.Name(), a.Child)
	if err != nil {
		return nil, err
	}
	for _, r := range []*Artifact{sbom, sbomSig, childSig} {
		if err := r.Push(repo, opts...); err != nil {
			return nil, err
		}
	}
	a.SBOM, a.SBOMSignature, a.ChildSignature = sbom.Digest(), sbomSig.Digest(), childSig.Digest()
	return a, nil
}

// Descriptor is the artifact's descriptor, as a subject.
func (a *Artifact) Descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: a.Digest(), Size: int64(len(a.manifest))}
}
