package ecr_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"kmirror.dev/kmirror/internal/testing/ecrtest"
	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/certs"
	"kmirror.dev/kmirror/pkg/ecr"
	"kmirror.dev/kmirror/pkg/registry"
)

// The default preset's mirror: the tests dial it at the stand-in.
const (
	chinaAccount = "048912060910"
	chinaRegion  = "cn-northwest-1"
	chinaHost    = chinaAccount + ".dkr.ecr." + chinaRegion + ".amazonaws.com.cn"
	accessKey    = "AKIDKMIRRORTEST"
)

// fixture is the stand-in for the default preset's ECR registry, in front
// of a real distribution registry, and a source registry.
type fixture struct {
	ecr    *ecrtest.Server
	src    *registrytest.Distribution
	bundle *certs.Bundle
	pool   *x509.CertPool
}

func newFixture(t *testing.T, o ecrtest.Options) *fixture {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal("docker-registry is not installed; make test installs it (.ci/deps.sh)")
	}
	f := &fixture{pool: x509.NewCertPool()}
	if f.bundle, err = certs.Generate([]string{"127.0.0.1", "localhost", chinaHost}, time.Now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	f.pool.AppendCertsFromPEM(f.bundle.CA)
	dir := t.TempDir()
	for _, d := range []string{"src", "ecr"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	if f.src, err = registrytest.StartDistribution(registrytest.DistributionOptions{Bin: bin, Dir: filepath.Join(dir, "src"), TLS: f.bundle}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.src.Stop)
	o.Account, o.Region, o.TLS, o.AccessKeyID = chinaAccount, chinaRegion, f.bundle, accessKey
	if f.ecr, err = ecrtest.StartOver(bin, filepath.Join(dir, "ecr"), o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.ecr.Close)
	// The AWS SDK: static test credentials, the stand-in as the endpoint,
	// no shared files or instance metadata of this machine.
	t.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "kmirror-test-secret")
	t.Setenv("AWS_ENDPOINT_URL_ECR", f.ecr.APIURL)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	return f
}

// transport trusts the test CA and dials the ECR registry's name at the
// stand-in, as DNS would the real one.
func (f *fixture) transport() http.RoundTripper {
	return &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if strings.HasPrefix(addr, chinaHost+":") {
				addr = f.ecr.Host
			}
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
}

// clients are a registry client with its ECR client, as kmirror sync makes
// them.
func (f *fixture) clients(t *testing.T, o ecr.Options) (*registry.Client, *ecr.Client) {
	t.Helper()
	o.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}}}
	e, err := ecr.New(o)
	if err != nil {
		t.Fatal(err)
	}
	c, err := registry.New(registry.Options{Transport: f.transport(), ExtraKeychain: e, Repositories: e})
	if err != nil {
		t.Fatal(err)
	}
	return c, e
}

// push writes the image of s to the source registry and returns its digest.
func (f *fixture) push(t *testing.T, repo string, s registrytest.Spec) string {
	t.Helper()
	ref, err := name.ParseReference(f.src.Host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	idx, img, err := registrytest.Make(s)
	if err != nil {
		t.Fatal(err)
	}
	opt := remote.WithTransport(&http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}})
	var h v1.Hash
	if idx != nil {
		h, _ = idx.Digest()
		err = remote.WriteIndex(ref, idx, opt)
	} else {
		h, _ = img.Digest()
		err = remote.Write(ref, img, opt)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return h.String()
}

// operations lists the API calls of the stand-in by operation.
func operations(s *ecrtest.Server) []string {
	var out []string
	for _, c := range s.Calls("") {
		out = append(out, c.Operation)
	}
	return out
}
