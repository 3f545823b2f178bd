package registrytest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"kmirror.dev/kmirror/pkg/certs"
)

// Distribution is a running CNCF distribution registry (Debian's
// docker-registry), serving TLS on 127.0.0.1.
type Distribution struct {
	// Host is the registry's host:port.
	Host string
	// Dir holds its storage, configuration and log.
	Dir string
	cmd *exec.Cmd
	log string
	// exited is closed when the process ends.
	exited chan struct{}
}

// DistributionOptions say how to run a registry.
type DistributionOptions struct {
	// Bin is the docker-registry binary.
	Bin string
	// Dir is an empty directory of its own.
	Dir string
	// TLS holds the serving certificate, for 127.0.0.1.
	TLS *certs.Bundle
	// Htpasswd, when set, is a bcrypt htpasswd file: the registry then
	// requires basic auth.
	Htpasswd string
}

// StartDistribution starts a registry on a free port of 127.0.0.1 and
// waits until it answers.
func StartDistribution(o DistributionOptions) (*Distribution, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &Distribution{Host: fmt.Sprintf("127.0.0.1:%d", port), Dir: o.Dir, log: filepath.Join(o.Dir, "registry.log"), exited: make(chan struct{})}
	if err := writeFiles(o.Dir, map[string][]byte{"tls.crt": o.TLS.Cert, "tls.key": o.TLS.Key}); err != nil {
		return nil, err
	}
	auth := ""
	if o.Htpasswd != "" {
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: kmirror-test\n    path: %s\n", o.Htpasswd)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  tls:
    certificate: %s
    key: %s
%s`, filepath.Join(o.Dir, "storage"), d.Host, filepath.Join(o.Dir, "tls.crt"), filepath.Join(o.Dir, "tls.key"), auth)
	cfgPath := filepath.Join(o.Dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(d.log)
	if err != nil {
		return nil, err
	}
	d.cmd = exec.Command(o.Bin, "serve", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", o.Bin, err)
	}
	go func() {
		d.cmd.Wait()
		logFile.Close()
		close(d.exited)
	}()
	if err := d.waitReady(o.TLS.CA); err != nil {
		d.Stop()
		log, _ := os.ReadFile(d.log)
		return nil, fmt.Errorf("registry on %s: %w\n%s", d.Host, err, log)
	}
	return d, nil
}

func (d *Distribution) waitReady(ca []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			return errors.New("exited")
		default:
		}
		resp, err := client.Get("https://" + d.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("no answer within 20s")
}

// Stop ends the registry and waits for it.
func (d *Distribution) Stop() {
	if d.cmd.Process != nil {
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// Requests counts the requests of the access log with method whose path
// contains part.
func (d *Distribution) Requests(method, part string) (int, error) {
	f, err := os.Open(d.log)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 127.0.0.1 - - [date] "PUT /v2/x/manifests/1 HTTP/1.1" 201 ...
		_, req, ok := strings.Cut(sc.Text(), `"`+method+" ")
		if ok && strings.Contains(strings.SplitN(req, " ", 2)[0], part) {
			n++
		}
	}
	return n, sc.Err()
}

// Log is the registry's log so far, for a failing test to show.
func (d *Distribution) Log() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Htpasswd writes a bcrypt htpasswd file for user with the htpasswd tool
// (apache2-utils), as distribution requires.
func Htpasswd(ctx context.Context, path, user, password string) error {
	out, err := exec.CommandContext(ctx, "htpasswd", "-Bbn", user, password).Output()
	if err != nil {
		return fmt.Errorf("htpasswd: %w", err)
	}
	return os.WriteFile(path, out, 0o600)
}

// DockerConfig writes dir/config.json with basic-auth credentials for
// each registry host, as "docker login" would.
func DockerConfig(dir string, creds map[string][2]string) error {
	auths := map[string]map[string]string{}
	for host, c := range creds {
		auths[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(c[0] + ":" + c[1]))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

// TLS makes a CA and a serving certificate for 127.0.0.1, and writes the
// CA to dir/ca.crt, for SSL_CERT_FILE and skopeo's --cert-dir.
func TLS(dir string) (*certs.Bundle, string, error) {
	b, err := certs.Generate([]string{"127.0.0.1", "localhost"}, time.Now(), 24*time.Hour)
	if err != nil {
		return nil, "", err
	}
	ca := filepath.Join(dir, "ca.crt")
	return b, ca, os.WriteFile(ca, b.CA, 0o644)
}

// PID is the registry's process id.
func (d *Distribution) PID() int { return d.cmd.Process.Pid }
