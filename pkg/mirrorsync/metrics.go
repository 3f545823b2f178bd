package mirrorsync

import "github.com/prometheus/client_golang/prometheus"

// QueueMetrics count the copies of a Queue. A nil *QueueMetrics counts
// nothing.
type QueueMetrics struct {
	pending prometheus.Gauge
	copies  *prometheus.CounterVec
	bytes   prometheus.Counter
}

// The results copies are counted by.
var copyResults = []string{"copied", "present", "retried", "failed", "dropped", "abandoned"}

// NewQueueMetrics registers the metrics of a Queue with reg.
func NewQueueMetrics(reg prometheus.Registerer) *QueueMetrics {
	m := &QueueMetrics{
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kmirror_mirror_copy_queue_depth",
			Help: "Images waiting to be copied into the mirror, being copied, or waiting to be tried again.",
		}),
		copies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmirror_mirror_copies_total",
			Help: "Copies into the mirror by result: copied, present (the mirror held it already), retried (failed, to be tried again), failed (for good), dropped (the queue was full), abandoned (at shutdown).",
		}, []string{"result"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kmirror_mirror_copied_bytes_total",
			Help: "Bytes sent to the mirror by the copies; blobs it held already or mounted count nothing.",
		}),
	}
	for _, r := range copyResults {
		m.copies.WithLabelValues(r)
	}
	reg.MustRegister(m.pending, m.copies, m.bytes)
	return m
}

func (m *QueueMetrics) depth(n int) {
	if m != nil {
		m.pending.Set(float64(n))
	}
}

func (m *QueueMetrics) counted(result string, bytes int64) {
	if m != nil {
		m.copies.WithLabelValues(result).Inc()
		m.bytes.Add(float64(bytes))
	}
}

func (m *QueueMetrics) abandoned(n int) {
	if m != nil {
		m.copies.WithLabelValues("abandoned").Add(float64(n))
		m.pending.Set(0)
	}
}
