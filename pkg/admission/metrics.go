package admission

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"kmirror.dev/kmirror/pkg/mirror"
)

// Metrics are the webhook's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	// Registry holds the metrics below, and the Go runtime and process
	// collectors.
	Registry *prometheus.Registry

	requests       *prometheus.CounterVec
	rewritten      *prometheus.CounterVec
	latency        prometheus.Histogram
	certExpiry     prometheus.Gauge
	certFailures   prometheus.Counter
	handshakeFails prometheus.Counter
}

// NewMetrics registers the metrics in a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmirror_admission_requests_total",
			Help: "Admission requests by result: patched, unchanged, bad_request, over_budget or error.",
		}, []string{"result"}),
		rewritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmirror_admission_images_rewritten_total",
			Help: "Images rewritten by the webhook, by action (mirrored or escaped) and whether the review was a dry run.",
		}, []string{"action", "dry_run"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kmirror_admission_request_duration_seconds",
			Help:    "Time from reading an admission request to answering it.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14),
		}),
		certExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kmirror_tls_certificate_expiry_timestamp_seconds",
			Help: "When the serving certificate expires, as a Unix time.",
		}),
		certFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kmirror_tls_certificate_reload_failures_total",
			Help: "Reloads of the serving certificate that failed: files unreadable, half-written or not a pair. The certificate in use stays.",
		}),
		handshakeFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kmirror_tls_handshake_errors_total",
			Help: "TLS handshakes that failed: probes, scans, clients that do not trust the certificate.",
		}),
	}
	for _, r := range []string{ResultPatched, ResultUnchanged, ResultBadRequest, ResultOverBudget, ResultError} {
		m.requests.WithLabelValues(r)
	}
	for _, a := range []mirror.Action{mirror.Mirrored, mirror.Escaped} {
		for _, dry := range []string{"false", "true"} {
			m.rewritten.WithLabelValues(string(a), dry)
		}
	}
	m.Registry.MustRegister(m.requests, m.rewritten, m.latency, m.certExpiry, m.certFailures, m.handshakeFails,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts one request; dryRun says that the review was a dry run.
func (m *Metrics) observe(result string, mut *Mutation, dryRun bool, took time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(result).Inc()
	m.latency.Observe(took.Seconds())
	if mut == nil {
		return
	}
	for i := range mut.Images {
		if d := &mut.Images[i].Decision; d.Changed() {
			m.rewritten.WithLabelValues(string(d.Action), strconv.FormatBool(dryRun)).Inc()
		}
	}
}

// certificateReloadFailed counts a reload of the certificate that failed.
func (m *Metrics) certificateReloadFailed() {
	if m != nil {
		m.certFailures.Inc()
	}
}

// handshakeFailed counts a TLS handshake that failed.
func (m *Metrics) handshakeFailed() {
	if m != nil {
		m.handshakeFails.Inc()
	}
}

// certificateLoaded records the expiry of a newly loaded certificate.
func (m *Metrics) certificateLoaded(notAfter time.Time) {
	if m != nil {
		m.certExpiry.Set(float64(notAfter.Unix()))
	}
}
