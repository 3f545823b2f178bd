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
	fromSource     *prometheus.CounterVec
	rulesFailures  prometheus.Counter
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
		fromSource: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmirror_admission_images_from_source_total",
			Help: "Images the rules send to the mirror that the webhook left as written, with --swap-policy exists, by reason (missing: the mirror lacks them; check_error: the mirror could not be checked, and --on-check-error is source) and whether the review was a dry run.",
		}, []string{"reason", "dry_run"}),
		rulesFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kmirror_rules_reload_failures_total",
			Help: "Rereads of the rules file that failed: unreadable, or not valid rules. The rules in use stay.",
		}),
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
	for _, dry := range []string{"false", "true"} {
		for _, a := range []mirror.Action{mirror.Mirrored, mirror.Escaped} {
			m.rewritten.WithLabelValues(string(a), dry)
		}
		for _, reason := range unmirroredReasons {
			m.fromSource.WithLabelValues(reason, dry)
		}
	}
	m.Registry.MustRegister(m.requests, m.rewritten, m.fromSource, m.rulesFailures, m.latency, m.certExpiry, m.certFailures, m.handshakeFails,
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
		img := &mut.Images[i]
		switch {
		case img.rewritten():
			m.rewritten.WithLabelValues(string(img.Decision.Action), strconv.FormatBool(dryRun)).Inc()
		case img.Unmirrored != "":
			m.fromSource.WithLabelValues(unmirroredReasons[img.Unmirrored], strconv.FormatBool(dryRun)).Inc()
		}
	}
}

// unmirroredReasons name the reasons of Unmirrored in metrics.
var unmirroredReasons = map[Unmirrored]string{NotInMirror: "missing", NotChecked: "check_error"}

// rulesReloadFailed counts a reread of the rules that failed.
func (m *Metrics) rulesReloadFailed() {
	if m != nil {
		m.rulesFailures.Inc()
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
