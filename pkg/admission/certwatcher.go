package admission

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// CertWatcher serves a certificate and key from files, and reloads them
// when their contents change: cert-manager and the kubelet replace Secret
// files in place. Connections made before a reload keep the certificate
// they were made with, so nothing is dropped.
//
// The files are polled rather than watched with inotify: a mounted Secret
// is updated by swapping a symlink, which file watches follow badly, and a
// read of two small files every few seconds costs nothing.
type CertWatcher struct {
	certFile, keyFile string
	log               *slog.Logger
	metrics           *Metrics

	cert atomic.Pointer[tls.Certificate]
	// mu guards the PEM last loaded.
	mu              sync.Mutex
	certPEM, keyPEM []byte
}

// NewCertWatcher loads the certificate and key, and fails when they do not
// make a pair. log (nil for none) hears of reloads and of files that fail
// to load; metrics (nil for none) get the certificate's expiry.
func NewCertWatcher(certFile, keyFile string, log *slog.Logger, metrics *Metrics) (*CertWatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &CertWatcher{certFile: certFile, keyFile: keyFile, log: log, metrics: metrics}
	if _, err := w.Reload(); err != nil {
		return nil, err
	}
	return w, nil
}

// GetCertificate returns the current certificate, for
// tls.Config.GetCertificate.
func (w *CertWatcher) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return w.cert.Load(), nil
}

// Reload reads the files and, when they changed and make a valid pair,
// serves the new certificate from the next handshake on. It reports
// whether the certificate changed. On an error the certificate in use
// stays: the files may be caught half-written, and the next poll will see
// them whole.
func (w *CertWatcher) Reload() (bool, error) {
	changed, err := w.reload()
	if err != nil {
		w.metrics.certificateReloadFailed()
	}
	return changed, err
}

func (w *CertWatcher) reload() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	certPEM, err := os.ReadFile(w.certFile)
	if err != nil {
		return false, fmt.Errorf("reading the TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(w.keyFile)
	if err != nil {
		return false, fmt.Errorf("reading the TLS key: %w", err)
	}
	if bytes.Equal(certPEM, w.certPEM) && bytes.Equal(keyPEM, w.keyPEM) {
		return false, nil
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("loading the TLS certificate %s and key %s: %w", w.certFile, w.keyFile, err)
	}
	w.cert.Store(&pair)
	w.certPEM, w.keyPEM = certPEM, keyPEM
	w.metrics.certificateLoaded(pair.Leaf.NotAfter)
	w.log.Info("loaded TLS certificate", "file", w.certFile, "subject", pair.Leaf.Subject.String(), "notAfter", pair.Leaf.NotAfter)
	return true, nil
}

// Watch reloads the files every interval until ctx is done.
func (w *CertWatcher) Watch(ctx context.Context, interval time.Duration) {
	poll(ctx, interval, func() {
		if _, err := w.Reload(); err != nil {
			w.log.Warn("keeping the current TLS certificate", "error", err.Error())
		}
	})
}

// poll calls reload every interval until ctx is done.
func poll(ctx context.Context, interval time.Duration, reload func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			reload()
		}
	}
}
