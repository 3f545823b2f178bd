package imagebuild

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"kmirror.dev/kmirror/pkg/certs"
)

var testCreated = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testOptions are options with fake binaries for amd64 and arm64 and a
// CA bundle of one certificate.
func testOptions(t *testing.T) Options {
	t.Helper()
	dir := t.TempDir()
	var bins []Binary
	for _, arch := range []string{"amd64", "arm64"} {
		p := filepath.Join(dir, arch)
		if err := os.WriteFile(p, []byte("kmirror for "+arch), 0o755); err != nil {
			t.Fatal(err)
		}
		bins = append(bins, Binary{Platform: v1.Platform{OS: "linux", Architecture: arch}, Path: p})
	}
	b, err := certs.Generate([]string{"localhost"}, testCreated, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return Options{Binaries: bins, CABundle: b.CA, Version: "v1.2.3", Revision: "abc123", Created: testCreated}
}

// entry is a tar entry as the tests compare it.
type entry struct {
	Name     string
	Type     byte
	Mode     int64
	UID, GID int
	ModTime  time.Time
	Data     string
}

func layerEntries(t *testing.T, l v1.Layer) []entry {
	t.Helper()
	mt, err := l.MediaType()
	if err != nil || mt != types.OCILayer {
		t.Errorf("layer media type %s, %v; want %s", mt, err, types.OCILayer)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []entry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out = append(out, entry{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime.UTC(), string(data)})
	}
}

func TestBuild(t *testing.T) {
	o := testOptions(t)
	idx, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := idx.RawManifest()
	if strings.Contains(string(raw), "artifactType") {
		t.Errorf("the index carries artifactType, which skopeo 1.9 refuses to copy:\n%s", raw)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{
		"org.opencontainers.image.title":       "kmirror",
		"org.opencontainers.image.description": "Rewrites container images in Kubernetes manifests to a mirror registry",
		"org.opencontainers.image.version":     "v1.2.3",
		"org.opencontainers.image.revision":    "abc123",
		"org.opencontainers.image.created":     "2025-06-01T12:00:00Z",
	}
	if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 2 {
		t.Fatalf("index %s with %d manifests, want an OCI index of 2", im.MediaType, len(im.Manifests))
	}
	if diff := cmp.Diff(labels, im.Annotations); diff != "" {
		t.Errorf("index annotations (-want +got):\n%s", diff)
	}
	at := func(name string, mode int64, data string) entry {
		typ := byte(tar.TypeReg)
		if strings.HasSuffix(name, "/") {
			typ = tar.TypeDir
		}
		return entry{Name: name, Type: typ, Mode: mode, ModTime: testCreated, Data: data}
	}
	home := at("home/nonroot/", 0o700, "")
	home.UID, home.GID = 65532, 65532
	wantBase := []entry{
		at("etc/", 0o755, ""),
		at("etc/group", 0o644, "root:x:0:\nnonroot:x:65532:\n"),
		at("etc/passwd", 0o644, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"),
		at("etc/ssl/", 0o755, ""),
		at("etc/ssl/certs/", 0o755, ""),
		at("etc/ssl/certs/ca-certificates.crt", 0o644, string(o.CABundle)),
		at("home/", 0o755, ""),
		home,
		at("tmp/", 0o1777, ""),
	}
	for i, arch := range []string{"amd64", "arm64"} {
		d := im.Manifests[i]
		if d.MediaType != types.OCIManifestSchema1 || d.ArtifactType != "" ||
			d.Platform == nil || d.Platform.String() != "linux/"+arch {
			t.Errorf("entry %d = %+v, want an OCI manifest for linux/%s", i, d, arch)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		wantConfig := v1.Config{
			User:         "65532:65532",
			Entrypoint:   []string{"/kmirror"},
			Cmd:          []string{"--help"},
			WorkingDir:   "/home/nonroot",
			ExposedPorts: map[string]struct{}{"8443/tcp": {}, "9090/tcp": {}},
			Labels:       labels,
		}
		if diff := cmp.Diff(wantConfig, cf.Config); diff != "" {
			t.Errorf("%s config (-want +got):\n%s", arch, diff)
		}
		if cf.OS != "linux" || cf.Architecture != arch || !cf.Created.Time.Equal(testCreated) {
			t.Errorf("%s config: os %s, architecture %s, created %s", arch, cf.OS, cf.Architecture, cf.Created)
		}
		for _, h := range cf.History {
			if !h.Created.Time.Equal(testCreated) {
				t.Errorf("%s history %q created %s, want %s", arch, h.CreatedBy, h.Created, testCreated)
			}
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 2 {
			t.Fatalf("%s: %d layers, %v; want 2", arch, len(layers), err)
		}
		if diff := cmp.Diff(wantBase, layerEntries(t, layers[0])); diff != "" {
			t.Errorf("%s base layer (-want +got):\n%s", arch, diff)
		}
		if diff := cmp.Diff([]entry{at("kmirror", 0o755, "kmirror for "+arch)}, layerEntries(t, layers[1])); diff != "" {
			t.Errorf("%s binary layer (-want +got):\n%s", arch, diff)
		}
	}
}

// TestBuildReproducible: the same options give the same digest, and each
// input changes it.
func TestBuildReproducible(t *testing.T) {
	o := testOptions(t)
	digest := func(o Options) v1.Hash {
		t.Helper()
		idx, err := Build(o)
		if err != nil {
			t.Fatal(err)
		}
		h, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	want := digest(o)
	if got := digest(o); got != want {
		t.Errorf("a second build gives %s, the first %s", got, want)
	}
	// Timestamps are whole seconds, as tar headers hold them.
	c := o
	c.Created = c.Created.Add(900 * time.Millisecond)
	if got := digest(c); got != want {
		t.Errorf("a build 0.9s later gives %s, the first %s", got, want)
	}
	other := filepath.Join(t.TempDir(), "other")
	os.WriteFile(other, []byte("another binary"), 0o755)
	for name, change := range map[string]func(*Options){
		"created":  func(o *Options) { o.Created = o.Created.Add(time.Second) },
		"version":  func(o *Options) { o.Version = "v1.2.4" },
		"revision": func(o *Options) { o.Revision = "" },
		"binary":   func(o *Options) { o.Binaries = []Binary{o.Binaries[0], {o.Binaries[1].Platform, other}} },
		"CA bundle": func(o *Options) {
			o.CABundle = append(append([]byte{}, o.CABundle...), o.CABundle...)
		},
	} {
		c := o
		change(&c)
		if digest(c) == want {
			t.Errorf("a changed %s gives the same digest", name)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	o := testOptions(t)
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no binaries", func(o *Options) { o.Binaries = nil }, "no binaries to build an image of"},
		{"a platform twice", func(o *Options) { o.Binaries = []Binary{o.Binaries[0], o.Binaries[0]} }, "platform linux/amd64 is given twice"},
		{"a version that is no tag", func(o *Options) { o.Version = "v1 beta" }, `version "v1 beta" is not a valid image tag`},
		{"no version", func(o *Options) { o.Version = "" }, `version "" is not a valid image tag`},
		{"an empty CA bundle", func(o *Options) { o.CABundle = nil }, "CA bundle holds no PEM certificate"},
		{"a key in the CA bundle", func(o *Options) {
			o.CABundle = []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
		}, "CA bundle: a PRIVATE KEY block where certificates belong"},
		{"a broken certificate", func(o *Options) {
			o.CABundle = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
		}, "CA bundle: certificate 1: "},
		{"a missing binary", func(o *Options) { o.Binaries = []Binary{{o.Binaries[0].Platform, "/no/such/kmirror"}} }, "making the image for linux/amd64: open /no/such/kmirror: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := o
			tc.change(&c)
			_, err := Build(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := ParsePlatforms(DefaultPlatforms)
	if err != nil {
		t.Fatal(err)
	}
	want := []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "linux", "windows/amd64", "linux/arm/v7", "linux/amd64,", "linux/amd64:10.0"} {
		if p, err := ParsePlatforms(bad); err == nil {
			t.Errorf("ParsePlatforms(%q) = %v, want an error", bad, p)
		}
	}
}

func TestValidVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"v1.2.3": true, "af63e56-dirty": true, "v1.0.0-3-gabcdef0": true, "devel": true, "_x": true,
		"": false, "-x": false, ".x": false, "v1+meta": false, "(devel)": false, strings.Repeat("a", 129): false,
		strings.Repeat("a", 128): true,
	} {
		if err := ValidVersion(v); (err == nil) != ok {
			t.Errorf("ValidVersion(%q) = %v, want ok %v", v, err, ok)
		}
	}
}
