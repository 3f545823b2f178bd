package admission

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
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
	// CertPoll is how often Certs rereads its files; 0 means 10s.
	CertPoll time.Duration
	// Metrics, when set, are served on the metrics listener.
	Metrics *Metrics
	// Log gets the server's own events; nil logs nothing.
	Log *slog.Logger
	// ShutdownDelay is how long /readyz fails before the listener closes
	// on shutdown, so that the Service stops sending new requests first.
	ShutdownDelay time.Duration
	// ShutdownTimeout bounds the wait for requests in flight; 0 means 15s.
	ShutdownTimeout time.Duration

	stopping atomic.Bool
}

// Serve serves the webhook on ln and, when metricsLn is not nil, metrics in
// plain HTTP on metricsLn, until ctx is done. It then fails /readyz, waits
// ShutdownDelay, stops accepting connections and waits for the requests in
// flight. It returns nil after a clean drain.
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
	poll := s.CertPoll
	if poll == 0 {
		poll = 10 * time.Second
	}
	go s.Certs.Watch(watchCtx, poll)
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

// webhookServer returns the server of the TLS listener.
func (s *Server) webhookServer(log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: s.routes(log),
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.Certs.GetCertificate,
		},
		ReadHeaderTimeout: 10 * time.Second,
		// The API server gives up on a webhook after at most 30s.
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func (s *Server) shutdown(log *slog.Logger, servers []*http.Server) error {
	s.stopping.Store(true)
	log.Info("shutting down", "delay", s.ShutdownDelay)
	time.Sleep(s.ShutdownDelay)
	timeout := s.ShutdownTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	// A fresh context: the one that was cancelled would abort the drain.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("draining requests: %w", err)
	}
	log.Info("stopped")
	return nil
}

func (s *Server) routes(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/mutate", s.Mutate)
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
	return recoverer(mux, log, s.Metrics)
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
