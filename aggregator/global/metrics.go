package global

import "github.com/prometheus/client_golang/prometheus"

// Metrics count the requests to peer regions.
type Metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgepulse_global_region_requests_total",
			Help: "Selects sent to peer regions, by outcome (ok, timeout, error, limited: no fan-out slot in time)."}, []string{"outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "edgepulse_global_region_request_seconds",
			Help: "Time a peer region took to answer a select.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"region"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.seconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.seconds.Collect(ch)
}
