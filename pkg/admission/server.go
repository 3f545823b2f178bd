package admission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves the webhook over TLS until its context is done, then
// drains the requests in flight.
type Server struct {
	// Mutate answers POST /mutate; usually a *Handler.
	Mutate http.Handler
	// Certs serves the TLS certificate.
	Certs *CertWatcher
	// Rules, when set, rereads the rules file.
	Rules *RulesWatcher
	// Poll is how often Certs and Rules reread their files; 0 means 10s.
	Poll time.Duration
	// Metrics, when set, are served on the metrics listener.
	Metrics *Metrics
	// Log gets the server's own events; nil logs nothing.
	Log *slog.Logger
	// ShutdownDelay is how long /readyz fails before the listener closes
	// on shutdown, so that the Service stops sending new requests first.
	ShutdownDelay time.Duration
	// ShutdownTimeout bounds the wait for requests in flight; 0 means 15s.
	ShutdownTimeout time.Duration
	// Abort, when it is closed during the shutdown, ends it at once: the
	// second SIGTERM or Ctrl-C.
	Abort <-chan struct{}

	stopping atomic.Bool
	// inFlight counts the requests being served.
	inFlight atomic.Int64
}

// Serve serves the webhook on ln and, when metricsLn is not nil, metrics in
// plain HTTP on metricsLn, until ctx is done. It then fails /readyz, waits
// ShutdownDelay, stops accepting connections and waits for the requests in
// flight. It returns nil after a clean drain, and an error when it cut the
// drain short, at ShutdownTimeout or when Abort was closed.
func (s *Server) Serve(ctx context.Context, ln, metricsLn net.Listener) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := s.webhookServer(log)
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	if metricsLn != nil {
		msrv := &http.Server{
			Handler:           s.metricsRoutes(),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
		}
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(metricsLn) }()
		log.Info("serving metrics", "addr", metricsLn.Addr().String())
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	interval := s.Poll
	if interval == 0 {
		interval = 10 * time.Second
	}
	go s.Certs.Watch(watchCtx, interval)
	if s.Rules != nil {
		go s.Rules.Watch(watchCtx, interval)
	}
	log.Info("serving the webhook", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		for _, srv := range servers {
			srv.Close()
		}
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	return s.shutdown(log, servers)
}

// CipherSuites are the TLS 1.2 cipher suites the webhook offers: ECDHE
// with an AEAD cipher, as the Kubernetes API server recommends; no CBC,
// no SHA-1, no RSA key exchange. TLS 1.3 has only such suites.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// webhookServer returns the server of the TLS listener.
func (s *Server) webhookServer(log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: s.routes(log),
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			CipherSuites:   CipherSuites,
			GetCertificate: s.Certs.GetCertificate,
		},
		ReadHeaderTimeout: 10 * time.Second,
		// The API server gives up on a webhook after at most 30s.
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       stdlog.New(serverErrors{log, s.Metrics}, "", 0),
	}
}

// serverErrors is the error log of the http.Server. A TLS handshake that
// fails is logged at debug level and counted: every port scan, load
// balancer probe and client that gives up makes one, and anyone who can
// reach the port could fill the log with them. Other errors are warnings.
type serverErrors struct {
	log     *slog.Logger
	metrics *Metrics
}

func (e serverErrors) Write(p []byte) (int, error) {
	msg := clipMessage(strings.TrimSuffix(string(p), "\n"))
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		e.metrics.handshakeFailed()
		e.log.Debug(msg)
	} else {
		e.log.Warn(msg)
	}
	return len(p), nil
}

func (s *Server) shutdown(log *slog.Logger, servers []*http.Server) error {
	s.stopping.Store(true)
	log.Info("shutting down", "delay", s.ShutdownDelay)
	select {
	case <-time.After(s.ShutdownDelay):
	case <-s.Abort:
	}
	timeout := s.ShutdownTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	// A fresh context: the one that was cancelled would abort the drain.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-s.Abort:
			cancel()
		case <-ctx.Done():
		}
	}()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		why := fmt.Sprintf("after %s", timeout)
		if isClosed(s.Abort) {
			why = "on a second signal"
		}
		cut := s.inFlight.Load()
		for _, srv := range servers {
			srv.Close()
		}
		log.Error("stopped without finishing the requests in flight", "cut", cut, "why", why)
		return fmt.Errorf("draining requests: stopped %s, cutting %d requests in flight", why, cut)
	}
	log.Info("stopped")
	return nil
}

// isClosed reports whether ch is closed; a nil ch is not.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// routes serves /mutate, /healthz and /readyz, and 404 for any other path.
// A path that is not clean ("//mutate") is not redirected: the API server
// would not follow, and the redirect repeats the path sent.
func (s *Server) routes(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/mutate", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		s.Mutate.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.stopping.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	clean := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p {
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return recoverer(clean, log, s.Metrics)
}

func (s *Server) metricsRoutes() http.Handler {
	mux := http.NewServeMux()
	if s.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	return mux
}

// recoverer turns a panic in h into a 500 answer and a log line, and the
// server goes on serving.
func recoverer(h http.Handler, log *slog.Logger, m *Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			log.Error("panic serving a request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			m.observe(ResultError, nil, false, time.Since(start))
			writeStatus(w, http.StatusInternalServerError, "internal error")
		}()
		h.ServeHTTP(w, r)
	})
}
