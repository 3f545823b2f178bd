package imagebuild

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The parts of the image that every build shares.
const (
	// User is the user and group the image runs as: nonroot in its
	// /etc/passwd, as in distroless.
	User = "65532:65532"
	// Entrypoint is where the kmirror binary lies.
	Entrypoint = "/kmirror"
	// CAPath is where the CA certificates lie.
	CAPath = "/etc/ssl/certs/ca-certificates.crt"
	// DefaultCABundle is where Debian's ca-certificates keeps the bundle
	// on the build machine.
	DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"
)

// Binary is the kmirror binary of one platform.
type Binary struct {
	Platform v1.Platform
	// Path is the binary's file.
	Path string
}

// Options say what to build.
type Options struct {
	// Binaries are the images' binaries, one per platform, in the order
	// of the index.
	Binaries []Binary
	// CABundle is the PEM bundle of CA certificates put at CAPath.
	CABundle []byte
	// Version labels the image; it must be a valid tag.
	Version string
	// Revision, the source's commit, labels the image when set.
	Revision string
	// Created is every timestamp of the image, cut to the second.
	Created time.Time
}

// tagPattern is the grammar of a tag, which a version must follow since
// it tags the image.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidVersion reports whether v can label and tag the image.
func ValidVersion(v string) error {
	if !tagPattern.MatchString(v) {
		return fmt.Errorf("version %q is not a valid image tag (letters, digits, _ . -, at most 128)", v)
	}
	return nil
}

// Build makes the image index of o.
func Build(o Options) (v1.ImageIndex, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.Created = o.Created.Truncate(time.Second).UTC()
	base, err := newLayer(baseFiles(o.CABundle), o.Created)
	if err != nil {
		return nil, fmt.Errorf("making the base layer: %w", err)
	}
	adds := make([]mutate.IndexAddendum, 0, len(o.Binaries))
	for _, b := range o.Binaries {
		img, err := platformImage(base, b, o)
		if err != nil {
			return nil, fmt.Errorf("making the image for %s: %w", b.Platform, err)
		}
		entry, err := newIndexEntry(img, b.Platform)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: entry})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	return mutate.Annotations(idx, o.labels()).(v1.ImageIndex), nil
}

func (o Options) validate() error {
	if len(o.Binaries) == 0 {
		return errors.New("no binaries to build an image of")
	}
	seen := map[string]bool{}
	for _, b := range o.Binaries {
		p := b.Platform.String()
		if seen[p] {
			return fmt.Errorf("platform %s is given twice", p)
		}
		seen[p] = true
	}
	if err := ValidVersion(o.Version); err != nil {
		return err
	}
	return checkCABundle(o.CABundle)
}

// checkCABundle refuses a bundle without a certificate, or with a block
// that is not one: the image would reach no registry over TLS.
func checkCABundle(b []byte) error {
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("CA bundle: a %s block where certificates belong", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("CA bundle: certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("CA bundle holds no PEM certificate")
	}
	return nil
}

// labels are the config's labels and the index's annotations.
func (o Options) labels() map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       "kmirror",
		"org.opencontainers.image.description": "Rewrites container images in Kubernetes manifests to a mirror registry",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.created":     o.Created.UTC().Format(time.RFC3339),
	}
	if o.Revision != "" {
		l["org.opencontainers.image.revision"] = o.Revision
	}
	return l
}

// platformImage is base and the binary of b, with the config of the
// kmirror image.
func platformImage(base v1.Layer, b Binary, o Options) (v1.Image, error) {
	bin, err := os.ReadFile(b.Path)
	if err != nil {
		return nil, err
	}
	layer, err := newLayer([]file{{name: Entrypoint[1:], mode: 0o755, data: bin}}, o.Created)
	if err != nil {
		return nil, fmt.Errorf("making the binary's layer: %w", err)
	}
	created := v1.Time{Time: o.Created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created,
			CreatedBy: "kmirror imagebuild: /etc/passwd, /etc/group, " + CAPath + ", /home/nonroot, /tmp"}},
		mutate.Addendum{Layer: layer, History: v1.History{Created: created,
			CreatedBy: "kmirror imagebuild: " + Entrypoint + " (go build, CGO_ENABLED=0)"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = created
	cf.OS, cf.Architecture, cf.Variant = b.Platform.OS, b.Platform.Architecture, b.Platform.Variant
	cf.Config = v1.Config{
		User:         User,
		Entrypoint:   []string{Entrypoint},
		Cmd:          []string{"--help"},
		WorkingDir:   "/home/nonroot",
		ExposedPorts: map[string]struct{}{"8443/tcp": {}, "9090/tcp": {}},
		Labels:       o.labels(),
	}
	return mutate.ConfigFile(img, cf)
}

// indexEntry is an image whose descriptor in an index is its media type,
// digest, size and platform, without the artifactType that
// partial.Descriptor would add.
type indexEntry struct {
	v1.Image
	desc v1.Descriptor
}

func newIndexEntry(img v1.Image, p v1.Platform) (indexEntry, error) {
	e := indexEntry{Image: img, desc: v1.Descriptor{Platform: &p}}
	var err error
	if e.desc.MediaType, err = img.MediaType(); err != nil {
		return e, err
	}
	if e.desc.Digest, err = img.Digest(); err != nil {
		return e, err
	}
	e.desc.Size, err = img.Size()
	return e, err
}

// Descriptor is what mutate.AppendManifests puts in the index.
func (e indexEntry) Descriptor() (*v1.Descriptor, error) {
	d := e.desc
	return &d, nil
}
