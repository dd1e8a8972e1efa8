// Package pathlat measures the full path's latency by site as histograms
// on /metrics: a window's end to its frame applied, the frame's publish
// (its JetStream stored time) to applied, and applied (the frame decoded
// and its write sent to Redis) to queryable (Redis acknowledged the
// write, from then on a query reads it).
//
// A [Recorder] is safe for concurrent use; its label set is bounded by
// MaxSites (further sites are recorded as site="_other" and counted).
// pathlat must not import NATS or edge.
package pathlat

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxSites bounds the site label's values.
const MaxSites = 1000

// Other is the site label of sites beyond MaxSites.
const Other = "_other"

// Recorder holds the three histograms.
type Recorder struct {
	windowEnd, publish, queryable *prometheus.HistogramVec
	overflow                      prometheus.Counter

	mu    sync.Mutex
	sites map[string]bool
}

// New returns an empty Recorder.
func New() *Recorder {
	b := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900}
	h := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: b}, []string{"site"})
	}
	return &Recorder{
		windowEnd: h("edgepulse_path_window_end_to_applied_seconds", "From a window's end (agent clock) to its frame applied here, by site."),
		publish:   h("edgepulse_path_publish_to_applied_seconds", "From a frame stored in the stream (its publish) to applied here, by site."),
		queryable: h("edgepulse_path_applied_to_queryable_seconds", "From a frame applied (decoded, its write sent to Redis) to the write acknowledged (readable), by site."),
		overflow: prometheus.NewCounter(prometheus.CounterOpts{Name: "edgepulse_path_sites_overflow_total",
			Help: "Observations recorded as site=\"_other\" because MaxSites sites are tracked."}),
		sites: map[string]bool{},
	}
}

// Frame records one frame of site applied at applied and written at
// written; windowEnd and published are zero when unknown.
func (r *Recorder) Frame(site string, windowEnd, published, applied, written time.Time) {
	site = r.site(site)
	if !windowEnd.IsZero() {
		r.windowEnd.WithLabelValues(site).Observe(max(applied.Sub(windowEnd).Seconds(), 0))
	}
	if !published.IsZero() {
		r.publish.WithLabelValues(site).Observe(max(applied.Sub(published).Seconds(), 0))
	}
	r.queryable.WithLabelValues(site).Observe(max(written.Sub(applied).Seconds(), 0))
}

func (r *Recorder) site(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sites[s] {
		return s
	}
	if len(r.sites) >= MaxSites {
		r.overflow.Inc()
		return Other
	}
	r.sites[s] = true
	return s
}

// Describe implements prometheus.Collector.
func (r *Recorder) Describe(ch chan<- *prometheus.Desc) {
	r.windowEnd.Describe(ch)
	r.publish.Describe(ch)
	r.queryable.Describe(ch)
	r.overflow.Describe(ch)
}

// Collect implements prometheus.Collector.
func (r *Recorder) Collect(ch chan<- prometheus.Metric) {
	r.windowEnd.Collect(ch)
	r.publish.Collect(ch)
	r.queryable.Collect(ch)
	r.overflow.Collect(ch)
}
