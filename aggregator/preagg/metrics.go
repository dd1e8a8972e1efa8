package preagg

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Metrics are the engine's counters, client_golang collectors.
type Metrics struct {
	closed  *prometheus.CounterVec
	late    prometheus.Counter
	written prometheus.Counter
	dropped prometheus.Counter
	tooLate prometheus.Counter
	errors  prometheus.Counter
}

func newMetrics() *Metrics {
	return &Metrics{
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgepulse_preagg_windows_closed_total",
			Help: "Partials of a rule's window written for the first time, by what closed them (share of the expected hosts, or the deadline)."}, []string{"by"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_preagg_late_updates_total",
			Help: "New versions of a closed partial written because a host reported after the close."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_preagg_partials_written_total",
			Help: "Versions of partials written to the store by the deadline loop (a version whose write failed is written again and counted again)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_preagg_groups_dropped_total",
			Help: "Groups of a partial dropped by preagg.max_groups."}),
		tooLate: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_preagg_hosts_too_late_total",
			Help: "Host contributions to a window closed and expired (preagg.late) before they came: not aggregated (their raw series are stored)."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_preagg_errors_total",
			Help: "Failed pre-aggregation writes or reads (the frames are redelivered) and malformed contributions."}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.closed.Describe(ch)
	m.late.Describe(ch)
	m.written.Describe(ch)
	m.dropped.Describe(ch)
	m.tooLate.Describe(ch)
	m.errors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.closed.Collect(ch)
	m.late.Collect(ch)
	m.written.Collect(ch)
	m.dropped.Collect(ch)
	m.tooLate.Collect(ch)
	m.errors.Collect(ch)
}

// Late is the number of late updates so far.
func (m *Metrics) Late() float64 { return counterValue(m.late) }

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
