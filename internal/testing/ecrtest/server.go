package ecrtest

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"kmirror.dev/kmirror/internal/testing/registrytest"
	"kmirror.dev/kmirror/pkg/certs"
)

// Options say how to run the stand-in.
type Options struct {
	// Account is the registry id (12 digits); Region the region it is in.
	Account, Region string
	// TLS is the serving certificate of both listeners; it must name
	// 127.0.0.1, and any host name a test dials the registry by.
	TLS *certs.Bundle
	// Upstream is the distribution registry (host:port, TLS, no auth) the
	// registry passes requests on to; UpstreamTransport trusts its CA.
	Upstream          string
	UpstreamTransport http.RoundTripper
	// TokenTTL is how long a token is valid; zero is ECR's 12 hours.
	TokenTTL time.Duration
	// AccessKeyID, when set, is the only access key the API accepts.
	AccessKeyID string
	// Latency delays every registry answer, as a distant region does.
	Latency time.Duration
	// Deny lists operations the caller's IAM policy does not allow: they
	// are answered AccessDeniedException.
	Deny []string
	// APILatency delays every API answer, after the call took effect: two
	// callers within it see the same state, as two processes that race.
	APILatency time.Duration
}

// Server is a running stand-in.
type Server struct {
	// APIURL is the API endpoint, for AWS_ENDPOINT_URL_ECR.
	APIURL string
	// Host is the registry's host:port.
	Host string

	o        Options
	api, reg *http.Server
	upstream *registrytest.Distribution
	proxy    *httputil.ReverseProxy

	mu sync.Mutex
	// tokens are the tokens issued, with when each expires.
	tokens map[string]time.Time
	// used are the tokens the registry accepted.
	used  map[string]bool
	repos map[string]*Repository
	calls []Call
	// expired counts the registry requests refused for an expired token.
	expired int
	// errors counts the API's errors by type.
	errors map[string]int
	// writes serializes the completing writes of each repository.
	writes map[string]*sync.Mutex
}

// Repository is a repository the API created, with its settings.
type Repository struct {
	Name               string
	ImageTagMutability string
	ScanOnPush         bool
	EncryptionType     string
	KMSKey             string
	Tags               map[string]string
	LifecyclePolicy    string
	Policy             string
}

// Call is one API call, as the stand-in received it.
type Call struct {
	// Operation is the part of X-Amz-Target after the service's name.
	Operation string
	// Region is the region of the request's SigV4 credential scope.
	Region string
	// Input is the request's JSON body.
	Input map[string]any
}

// Start starts both listeners.
func Start(o Options) (*Server, error) {
	if o.TokenTTL == 0 {
		o.TokenTTL = 12 * time.Hour
	}
	up, err := url.Parse("https://" + o.Upstream)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, tokens: map[string]time.Time{}, used: map[string]bool{}, repos: map[string]*Repository{}, errors: map[string]int{}, writes: map[string]*sync.Mutex{}}
	s.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(up)
			// The registry writes upload locations for the host it was
			// asked by: this one.
			r.Out.Host = r.In.Host
			r.Out.Header.Del("Authorization")
		},
		Transport: o.UpstreamTransport,
		// A client that goes away is no news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	cert, err := tls.X509KeyPair(o.TLS.Cert, o.TLS.Key)
	if err != nil {
		return nil, err
	}
	var apiLn, regLn net.Listener
	if apiLn, err = listen(cert); err != nil {
		return nil, err
	}
	if regLn, err = listen(cert); err != nil {
		apiLn.Close()
		return nil, err
	}
	s.APIURL, s.Host = "https://"+apiLn.Addr().String(), regLn.Addr().String()
	s.api = &http.Server{Handler: http.HandlerFunc(s.serveAPI), ReadHeaderTimeout: 10 * time.Second}
	s.reg = &http.Server{Handler: http.HandlerFunc(s.serveRegistry), ReadHeaderTimeout: 10 * time.Second}
	go s.api.Serve(apiLn)
	go s.reg.Serve(regLn)
	return s, nil
}

func listen(cert tls.Certificate) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}), nil
}

// Close stops both listeners, and the registry behind when StartOver
// started it.
func (s *Server) Close() {
	s.api.Close()
	s.reg.Close()
	if s.upstream != nil {
		s.upstream.Stop()
	}
}

// ProxyEndpoint is the registry's address as ECR names it in
// GetAuthorizationToken: its public name, whatever host the test dials.
func (s *Server) ProxyEndpoint() string {
	suffix := "amazonaws.com"
	if strings.HasPrefix(s.o.Region, "cn-") {
		suffix += ".cn"
	}
	return fmt.Sprintf("https://%s.dkr.ecr.%s.%s", s.o.Account, s.o.Region, suffix)
}

// SetTokenTTL changes how long the tokens issued from now on live.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.TokenTTL = d
}

// SetAPILatency changes the delay of the API's answers from now on.
func (s *Server) SetAPILatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.APILatency = d
}

// Token issues a registry token, as GetAuthorizationToken would, for a
// test's own client (skopeo --creds AWS:<token>).
func (s *Server) Token() string {
	tok, _ := s.issue()
	return tok
}

// Calls returns the API calls of operation ("" for all), in order.
func (s *Server) Calls(operation string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if operation == "" || c.Operation == operation {
			out = append(out, c)
		}
	}
	return out
}

// Repositories returns the repositories created, by name.
func (s *Server) Repositories() map[string]Repository {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Repository{}
	for n, r := range s.repos {
		c := *r
		c.Tags = maps.Clone(r.Tags)
		out[n] = c
	}
	return out
}

// RepositoryNames returns the names of the repositories created, sorted.
func (s *Server) RepositoryNames() []string {
	return slices.Sorted(maps.Keys(s.Repositories()))
}

// TokensUsed counts the distinct tokens the registry accepted.
func (s *Server) TokensUsed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.used)
}

// Errors counts the API errors answered of type typ, such as
// RepositoryAlreadyExistsException.
func (s *Server) Errors(typ string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errors[typ]
}

// Expired counts the registry requests refused for an expired token.
func (s *Server) Expired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expired
}

// issue makes a token valid for the current TTL.
func (s *Server) issue() (string, time.Time) {
	b := make([]byte, 24)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	exp := time.Now().Add(s.o.TokenTTL)
	s.tokens[tok] = exp
	return tok, exp
}

var errExpired = errors.New("Your authorization token has expired. Reauthenticate and try again.")

// authorize checks the basic auth of a registry request.
func (s *Server) authorize(r *http.Request) error {
	user, tok, ok := r.BasicAuth()
	if !ok || user != "AWS" {
		return errors.New("no basic auth as AWS")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[tok]
	switch {
	case !ok:
		return errors.New("a token this registry did not issue")
	case time.Now().After(exp):
		s.expired++
		return errExpired
	}
	s.used[tok] = true
	return nil
}

func (s *Server) serveRegistry(w http.ResponseWriter, r *http.Request) {
	// The token is checked as the request arrives; the answer takes the
	// latency.
	err := s.authorize(r)
	if s.o.Latency > 0 {
		time.Sleep(s.o.Latency)
	}
	if err != nil {
		if errors.Is(err, errExpired) {
			registryError(w, http.StatusForbidden, "DENIED", err.Error())
			return
		}
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm=%q,service="ecr.amazonaws.com"`, s.ProxyEndpoint()+"/"))
		registryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Not Authorized")
		return
	}
	if repo, ok := repository(r.URL.Path); ok {
		s.mu.Lock()
		_, exists := s.repos[repo]
		s.mu.Unlock()
		if !exists {
			registryError(w, http.StatusNotFound, "NAME_UNKNOWN",
				fmt.Sprintf("The repository with name '%s' does not exist in the registry with id '%s'", repo, s.o.Account))
			return
		}
	}
	if repo, ok := repository(r.URL.Path); ok && r.Method == http.MethodPut {
		// ECR takes two pushes of one image at once; distribution 2.8 can
		// lose a blob when two uploads of it complete at once
		// (DIGEST_INVALID, then MANIFEST_BLOB_UNKNOWN), so the writes that
		// complete something pass one at a time per repository.
		l := s.writeLock(repo)
		l.Lock()
		defer l.Unlock()
	}
	s.proxy.ServeHTTP(w, r)
}

func (s *Server) writeLock(repo string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.writes[repo]
	if !ok {
		l = &sync.Mutex{}
		s.writes[repo] = l
	}
	return l
}

// repository is the repository a registry path names, if any.
func repository(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return "", false
	}
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/"} {
		if i := strings.LastIndex(rest, sep); i > 0 {
			return rest[:i], true
		}
	}
	return "", false
}

func registryError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, message)
}

// basicToken is the authorizationToken ECR hands out: base64 "AWS:token".
func basicToken(tok string) string {
	return base64.StdEncoding.EncodeToString([]byte("AWS:" + tok))
}

// StartOver starts a distribution registry (the docker-registry binary
// bin, its files in dir) with o.TLS, and the stand-in in front of it;
// Close stops both.
func StartOver(bin, dir string, o Options) (*Server, error) {
	d, err := registrytest.StartDistribution(registrytest.DistributionOptions{Bin: bin, Dir: dir, TLS: o.TLS})
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(o.TLS.CA)
	o.Upstream, o.UpstreamTransport = d.Host, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	s, err := Start(o)
	if err != nil {
		d.Stop()
		return nil, err
	}
	s.upstream = d
	return s, nil
}

// Upstream is the distribution registry behind the stand-in, when
// StartOver started it.
func (s *Server) Upstream() *registrytest.Distribution { return s.upstream }
