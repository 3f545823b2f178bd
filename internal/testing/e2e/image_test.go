//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image the tests build, with fixed inputs so that two builds must
// give one digest.
const (
	imageVersion = "v0.0.0-e2e"
	imageCreated = "1700000000" // 2023-11-14T22:13:20Z
)

// makeImage runs `make image` from the repository's root with vars, as a
// user would, trusting the registries' CA through SSL_CERT_FILE and with
// the Docker config in dockerConfig.
func (r *registries) makeImage(t *testing.T, dockerConfig string, vars ...string) (stdout, stderr string, err error) {
	t.Helper()
	args := append([]string{"--no-print-directory", "image",
		"VERSION=" + imageVersion, "SOURCE_DATE_EPOCH=" + imageCreated, "REVISION=e2e"}, vars...)
	cmd := exec.Command(lookTool(t, "make"), args...)
	cmd.Dir = pipelineRoot()
	// `make e2e` runs this test: its variables must not reach this make.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MFLAGS" && k != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SSL_CERT_FILE="+r.ca, "DOCKER_CONFIG="+dockerConfig)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

var builtDigest = regexp.MustCompile(`(?m)^built kmirror ` + regexp.QuoteMeta(imageVersion) + ` for linux/amd64,linux/arm64: (sha256:[0-9a-f]{64})$`)

// TestImage builds the image with `make image` twice, into an OCI layout
// and into a registry that requires the credentials of the Docker config,
// finds one digest, and reads the image back with skopeo and with
// go-containerregistry: both platforms, non-root, /kmirror, no shell, the
// CA certificates, and a binary of each architecture that is static; the
// amd64 one prints its version.
func TestImage(t *testing.T) {
	r := startRegistries(t)
	layoutDir := filepath.Join(t.TempDir(), "layout")
	stdout, stderr, err := r.makeImage(t, r.dockerConfig, "OCI_LAYOUT="+layoutDir)
	if err != nil {
		t.Fatalf("make image OCI_LAYOUT=%s: %v\n%s%s", layoutDir, err, stdout, stderr)
	}
	m := builtDigest.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("make image printed no digest:\n%s", stdout)
	}
	digest := m[1]

	repo := r.mirror.Host + "/kmirror/kmirror"
	ref := repo + ":" + imageVersion
	stdout, stderr, err = r.makeImage(t, r.dockerConfig, "IMAGE="+repo)
	if err != nil {
		t.Fatalf("make image IMAGE=%s: %v\n%s%s", repo, err, stdout, stderr)
	}
	// Without a tag, the version is the tag; the same commit and inputs
	// build the same digest.
	if want := "pushed " + ref + "@" + digest + "\n"; !strings.HasSuffix(stdout, want) {
		t.Errorf("make image printed:\n%s\nwant it to end with %q", stdout, want)
	}

	raw := checkImageIndex(t, r, ref, digest)
	layoutRaw, err := exec.Command(lookTool(t, "skopeo"), "inspect", "--raw", "oci:"+layoutDir+":"+imageVersion).Output()
	if err != nil || !bytes.Equal(layoutRaw, raw) {
		t.Errorf("skopeo reads the OCI layout's index as\n%s (%v)\nwant the pushed one\n%s", layoutRaw, err, raw)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		checkImageConfig(t, r, ref, arch)
	}
	checkImageFiles(t, r, ref)

	// skopeo can mirror it with its digests, which an index whose
	// entries carry artifactType would prevent.
	cp := exec.Command(lookTool(t, "skopeo"), "copy", "--all", "--preserve-digests", "--quiet",
		"--src-cert-dir", r.certDir, "--dest-cert-dir", r.certDir,
		"--src-creds", mirrorUser+":"+mirrorPassword, "--dest-creds", mirrorUser+":"+mirrorPassword,
		"docker://"+ref, "docker://"+r.mirror.Host+"/copy/kmirror:"+imageVersion)
	cp.Env = append(os.Environ(), "HOME="+r.dir)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Errorf("skopeo copy --all --preserve-digests: %v\n%s", err, out)
	} else if got, _, _ := r.skopeoRaw(t, r.mirror.Host+"/copy/kmirror:"+imageVersion); got != digest {
		t.Errorf("skopeo's copy is %s, want %s", got, digest)
	}
}

// checkImageIndex reads the index at ref with skopeo and returns it.
func checkImageIndex(t *testing.T, r *registries, ref, digest string) []byte {
	t.Helper()
	got, raw, ok := r.skopeoRaw(t, ref)
	if !ok {
		t.Fatalf("skopeo cannot read %s", ref)
	}
	if got != digest {
		t.Errorf("%s is %s, want %s", ref, got, digest)
	}
	var idx v1.IndexManifest
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatalf("the index: %v\n%s", err, raw)
	}
	var platforms []string
	for _, d := range idx.Manifests {
		if d.MediaType != types.OCIManifestSchema1 || d.Platform == nil {
			t.Errorf("index entry %+v, want an OCI manifest with a platform", d)
			continue
		}
		platforms = append(platforms, d.Platform.String())
	}
	if idx.MediaType != types.OCIImageIndex || !cmp.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("index of %s for %v, want an OCI index for linux/amd64 and linux/arm64:\n%s", idx.MediaType, platforms, raw)
	}
	if bytes.Contains(raw, []byte("artifactType")) {
		t.Errorf("the index's entries carry artifactType:\n%s", raw)
	}
	if v := idx.Annotations["org.opencontainers.image.version"]; v != imageVersion {
		t.Errorf("the index's version annotation is %q, want %q", v, imageVersion)
	}
	return raw
}

// checkImageConfig reads the config of the arch image of ref with skopeo.
func checkImageConfig(t *testing.T, r *registries, ref, arch string) {
	t.Helper()
	cmd := exec.Command(lookTool(t, "skopeo"), "inspect", "--config", "--raw", "--override-os", "linux", "--override-arch", arch,
		"--cert-dir", r.certDir, "--creds", mirrorUser+":"+mirrorPassword, "docker://"+ref)
	cmd.Env = append(os.Environ(), "HOME="+r.dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skopeo inspect --config %s for %s: %v", ref, arch, err)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(out, &cf); err != nil {
		t.Fatalf("the %s config: %v\n%s", arch, err, out)
	}
	got := map[string]any{
		"os": cf.OS, "architecture": cf.Architecture, "created": cf.Created.UTC().Unix(),
		"user": cf.Config.User, "entrypoint": cf.Config.Entrypoint, "cmd": cf.Config.Cmd,
		"version":  cf.Config.Labels["org.opencontainers.image.version"],
		"revision": cf.Config.Labels["org.opencontainers.image.revision"],
	}
	want := map[string]any{
		"os": "linux", "architecture": arch, "created": int64(1700000000),
		"user": "65532:65532", "entrypoint": []string{"/kmirror"}, "cmd": []string{"--help"},
		"version": imageVersion, "revision": "e2e",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the %s config (-want +got):\n%s", arch, diff)
	}
}

// checkImageFiles reads every image of ref with go-containerregistry and
// checks its files; the amd64 binary must run and print the version.
func checkImageFiles(t *testing.T, r *registries, ref string) {
	t.Helper()
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(n, remote.WithTransport(r.transport), remote.WithAuth(&authn.Basic{Username: mirrorUser, Password: mirrorPassword}))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatal(err)
	}
	var baseLayers []v1.Hash
	for _, d := range im.Manifests {
		arch := d.Platform.Architecture
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) == 0 {
			t.Fatalf("%s: %d layers, %v", arch, len(layers), err)
		}
		h, _ := layers[0].Digest()
		baseLayers = append(baseLayers, h)
		files := imageFiles(t, img)
		var names []string
		for f := range files {
			names = append(names, f)
		}
		sort.Strings(names)
		want := []string{"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
			"home/", "home/nonroot/", "kmirror", "tmp/"}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("%s files (-want +got):\n%s", arch, diff)
		}
		for _, f := range names {
			if base := filepath.Base(f); base == "sh" || base == "bash" || base == "busybox" {
				t.Errorf("%s has a shell: %s", arch, f)
			}
		}
		if !bytes.Equal(files["etc/ssl/certs/ca-certificates.crt"], ca) {
			t.Errorf("%s: the CA bundle is not the build machine's", arch)
		}
		if !bytes.Contains(files["etc/passwd"], []byte("\nnonroot:x:65532:65532:")) {
			t.Errorf("%s: /etc/passwd has no nonroot user 65532:\n%s", arch, files["etc/passwd"])
		}
		bin := files["kmirror"]
		checkStaticELF(t, arch, bin, machines[arch])
		if arch == "amd64" {
			p := filepath.Join(t.TempDir(), "kmirror")
			if err := os.WriteFile(p, bin, 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(p, "version").CombinedOutput()
			if err != nil || string(out) != "kmirror "+imageVersion+"\n" {
				t.Errorf("the image's kmirror version: %q, %v; want %q", out, err, "kmirror "+imageVersion+"\n")
			}
		}
	}
	if len(baseLayers) != 2 || baseLayers[0] != baseLayers[1] {
		t.Errorf("base layers %v, want one layer that both platforms share", baseLayers)
	}
}

// imageFiles is the content of the files of img's filesystem, by path; a
// directory's path ends in "/".
func imageFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if h.Typeflag == tar.TypeDir {
			name += "/"
		}
		files[name] = b
	}
}

// checkStaticELF checks that bin is an executable for machine that needs
// no dynamic loader: the image has no libc.
func checkStaticELF(t *testing.T, arch string, bin []byte, machine elf.Machine) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Errorf("%s: /kmirror is not an ELF binary: %v", arch, err)
		return
	}
	if f.Machine != machine || f.Type != elf.ET_EXEC {
		t.Errorf("%s: /kmirror is a %s %s, want an executable for %s", arch, f.Type, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: /kmirror is linked dynamically (%s)", arch, p.Type)
		}
	}
}

// TestImageDenied: a push with no credentials for the registry fails,
// says why and where the credentials come from, and leaves no tag.
func TestImageDenied(t *testing.T) {
	r := startRegistries(t)
	empty := t.TempDir()
	ref := r.mirror.Host + "/kmirror/kmirror:denied"
	stdout, stderr, err := r.makeImage(t, empty, "IMAGE="+ref)
	if err == nil {
		t.Fatalf("make image pushed without credentials:\n%s", stdout)
	}
	want := "image: writing " + ref + ": " + r.mirror.Host + " denied access"
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "check the credentials for "+r.mirror.Host+" in "+filepath.Join(empty, "config.json")) {
		t.Errorf("make image's stderr:\n%s\nwant %q and where the credentials come from", stderr, want)
	}
	if strings.Contains(stdout, "pushed") {
		t.Errorf("make image says it pushed:\n%s", stdout)
	}
	if _, _, ok := r.skopeoRaw(t, ref); ok {
		t.Errorf("the registry holds %s", ref)
	}
}
