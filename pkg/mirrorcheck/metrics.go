package mirrorcheck

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count the checks of the mirror. A nil *Metrics counts nothing.
type Metrics struct {
	checks     *prometheus.CounterVec
	hits, miss prometheus.Counter
	latency    prometheus.Histogram
	entries    func() int
}

// NewMetrics registers the metrics of the checks with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmirror_mirror_checks_total",
			Help: "Checks of the mirror sent to its registry, by result: present, missing, or error (a timeout, 5xx, 401, 403).",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kmirror_mirror_check_duration_seconds",
			Help:    "Time to check the mirror for an image: the HEAD request, and the wait for a free request slot.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kmirror_mirror_check_cache_total",
		Help: "Answers about the mirror looked up in the cache, by result: hit or miss.",
	}, []string{"result"})
	m.hits, m.miss = lookups.WithLabelValues("hit"), lookups.WithLabelValues("miss")
	for _, s := range []State{Present, Missing, Failed} {
		m.checks.WithLabelValues(s.String())
	}
	entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kmirror_mirror_check_cache_entries",
		Help: "Answers about the mirror in the cache.",
	}, func() float64 {
		if m.entries == nil {
			return 0
		}
		return float64(m.entries())
	})
	reg.MustRegister(m.checks, lookups, m.latency, entries)
	return m
}

// watch makes the metrics report the size of c's cache.
func (m *Metrics) watch(c *Checker) {
	if m != nil {
		m.entries = c.entries
	}
}

func (m *Metrics) lookedUp(hits, misses int) {
	if m != nil {
		m.hits.Add(float64(hits))
		m.miss.Add(float64(misses))
	}
}

func (m *Metrics) checked(s State, took time.Duration) {
	if m != nil {
		m.checks.WithLabelValues(s.String()).Inc()
		m.latency.Observe(took.Seconds())
	}
}
