//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/certs"
)

// The mirror's credentials, which kmirror reads from the Docker config the
// tests write.
const (
	mirrorUser     = "mirror-bot"
	mirrorPassword = "s3cret-pass"
)

// registries is a source registry and a mirror that requires basic auth,
// both real CNCF distribution processes serving TLS with a CA of the test.
type registries struct {
	dir string
	// ca is the CA's PEM file; certDir holds only it, for skopeo.
	ca, certDir string
	bundle      *certs.Bundle
	src, mirror *registrytest.Distribution
	// dockerConfig is a DOCKER_CONFIG directory with the mirror's
	// credentials.
	dockerConfig string
	transport    http.RoundTripper
}

func startRegistries(t *testing.T) *registries {
	t.Helper()
	lookTool(t, "docker-registry")
	lookTool(t, "htpasswd")
	r := &registries{dir: t.TempDir()}
	r.certDir = filepath.Join(r.dir, "certs")
	os.MkdirAll(r.certDir, 0o755)
	var err error
	if r.bundle, r.ca, err = registrytest.TLS(r.certDir); err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(r.dir, "htpasswd")
	if err := registrytest.Htpasswd(context.Background(), htpasswd, mirrorUser, mirrorPassword); err != nil {
		t.Fatal(err)
	}
	r.src = r.start(t, "source", "")
	r.mirror = r.start(t, "mirror", htpasswd)
	r.dockerConfig = filepath.Join(r.dir, "docker")
	os.MkdirAll(r.dockerConfig, 0o700)
	if err := registrytest.DockerConfig(r.dockerConfig, map[string][2]string{r.mirror.Host: {mirrorUser, mirrorPassword}}); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.bundle.CA)
	r.transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	return r
}

func (r *registries) start(t *testing.T, name, htpasswd string) *registrytest.Distribution {
	t.Helper()
	dir := filepath.Join(r.dir, name)
	os.MkdirAll(dir, 0o755)
	d, err := registrytest.StartDistribution(registrytest.DistributionOptions{
		Bin: lookTool(t, "docker-registry"), Dir: dir, TLS: r.bundle, Htpasswd: htpasswd,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s registry log:\n%s", name, tail([]byte(d.Log()), 4000))
		}
		d.Stop()
	})
	return d
}

// lookTool finds a real tool on PATH; a missing one fails the test.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed; `make e2e` installs it (.ci/deps.sh)", name)
	}
	return p
}

// push writes the image of s to ref, with the mirror's credentials when
// ref is on the mirror, and returns its digest.
func (r *registries) push(t *testing.T, ref string, s registrytest.Spec) v1.Hash {
	t.Helper()
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.WithTransport(r.transport)}
	if strings.HasPrefix(ref, r.mirror.Host) {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: mirrorUser, Password: mirrorPassword}))
	}
	idx, img, err := registrytest.Make(s)
	if err != nil {
		t.Fatal(err)
	}
	var h v1.Hash
	if idx != nil {
		h, _ = idx.Digest()
		err = remote.WriteIndex(n, idx, opts...)
	} else {
		h, _ = img.Digest()
		err = remote.Write(n, img, opts...)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return h
}

// kmirror runs the kmirror binary with the test's CA and Docker config,
// and returns what it printed and its exit status.
func (r *registries) kmirror(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := r.kmirrorCmd(args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func (r *registries) kmirrorCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(kmirrorBin, args...)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+r.ca, "DOCKER_CONFIG="+r.dockerConfig, "HOME="+r.dir, "NO_COLOR=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// skopeoRaw reads the raw manifest at ref with skopeo, an independent
// client, and returns its digest; ok is false when skopeo fails.
func (r *registries) skopeoRaw(t *testing.T, ref string) (digest string, raw []byte, ok bool) {
	t.Helper()
	args := []string{"inspect", "--raw", "--cert-dir", r.certDir}
	if strings.HasPrefix(ref, r.mirror.Host) {
		args = append(args, "--creds", mirrorUser+":"+mirrorPassword)
	}
	cmd := exec.Command(lookTool(t, "skopeo"), append(args, "docker://"+ref)...)
	cmd.Env = append(os.Environ(), "HOME="+r.dir)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Logf("skopeo inspect %s: %v: %s", ref, err, errOut.String())
		return "", nil, false
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(out)), out, true
}

// mirrorPuts counts the PUT requests the mirror's access log shows.
func (r *registries) mirrorRequests(t *testing.T, method string) int {
	t.Helper()
	n, err := r.mirror.Requests(method, "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	return n
}
