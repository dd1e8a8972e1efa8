package agent

import (
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ServeMetrics serves the agent's own counters, and the Go runtime's and
// the process's, in the Prometheus exposition format (GET /metrics).
func (a *Agent) ServeMetrics(w http.ResponseWriter, r *http.Request) {
	a.metricsHandler().ServeHTTP(w, r)
}

// metricsOnce builds the registry on first use (an agent that never
// serves /metrics never builds one).
type metricsOnce struct {
	once sync.Once
	h    http.Handler
}

func (a *Agent) metricsHandler() http.Handler {
	a.metricsH.once.Do(func() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), agentCollector{a})
		a.metricsH.h = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	})
	return a.metricsH.h
}

// agentCollector reads the agent's counters at scrape time from the
// types that own them, as constant metrics (unchecked: the source error
// series depend on which sources have failed).
type agentCollector struct{ a *Agent }

func (agentCollector) Describe(chan<- *prometheus.Desc) {}

func (c agentCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	st := a.Stats()
	metric := func(name, typ, help string, v float64) {
		vt := prometheus.GaugeValue
		if typ == "counter" {
			vt = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, nil, nil), vt, v)
	}
	metric("edgepulse_agent_series", "gauge", "Series interned (cardinality).", float64(st.Series))
	metric("edgepulse_agent_series_limited_total", "counter", "Samples of new series refused by max_series.", float64(st.SeriesLimited))
	metric("edgepulse_agent_series_swept_total", "counter", "Series forgotten after they stopped reporting.", float64(st.SeriesSwept))
	metric("edgepulse_agent_cycles_total", "counter", "Collection cycles run.", float64(st.Cycles))
	metric("edgepulse_agent_samples_total", "counter", "Samples collected.", float64(st.Samples))
	metric("edgepulse_agent_queue_depth", "gauge", "Samples waiting in the queue.", float64(a.q.Len()))
	metric("edgepulse_agent_queue_dropped_total", "counter", "Samples the full queue refused.", float64(st.QueueDropped))
	metric("edgepulse_agent_late_samples_total", "counter", "Samples that arrived after their window closed.", float64(st.LateSamples))
	metric("edgepulse_agent_windows_total", "counter", "Windows closed and spooled.", float64(st.Windows))
	metric("edgepulse_agent_incidents_total", "counter", "Incidents opened.", float64(st.Incidents))
	metric("edgepulse_agent_spool_batches", "gauge", "Batches in the spool.", float64(st.Spool.Batches))
	metric("edgepulse_agent_spool_bytes", "gauge", "Bytes in the spool.", float64(st.Spool.Bytes))
	metric("edgepulse_agent_spool_dropped_total", "counter", "Batches dropped because the spool was full.", float64(st.Spool.Dropped))
	metric("edgepulse_agent_spool_recovered_total", "counter", "Unreadable spools moved aside.", float64(st.Spool.Recovered))
	metric("edgepulse_agent_spool_lost_total", "counter", "Batches held before a restart that were unreadable or gone after it.", float64(st.Spool.Lost))
	metric("edgepulse_agent_spool_disk_dropped_total", "counter", "Windows not spooled because the disk was at its reserve.", float64(st.Spool.DiskDropped))
	metric("edgepulse_agent_spool_bound_bytes", "gauge", "Bytes the spool may hold now: spool_max_bytes, less when the disk has less free above the reserve.", float64(st.Spool.Bound))
	metric("edgepulse_agent_spool_open", "gauge", "1: the spool is open; 0: a full disk keeps it closed and windows wait in memory (at most 16).", b2f(st.Outbox.SpoolOpen))
	metric("edgepulse_agent_spool_open_failures_total", "counter", "Attempts to open the spool that failed (a full disk), at start and every ~30 s after.", float64(st.Outbox.OpenFailures))
	metric("edgepulse_agent_memory_queue_batches", "gauge", "Windows held in memory while the spool is closed.", float64(st.Outbox.MemBatches))
	metric("edgepulse_agent_memory_queue_bytes", "gauge", "Bytes of the windows held in memory while the spool is closed.", float64(st.Outbox.MemBytes))
	metric("edgepulse_agent_memory_queue_dropped_total", "counter", "Windows dropped because the memory queue was full while the spool was closed.", float64(st.Outbox.MemDropped))
	metric("edgepulse_agent_spool_badger_log_lines_total", "counter", "Error and warning lines from the spool's Badger.", float64(st.Outbox.BadgerLogLines))
	metric("edgepulse_agent_spool_badger_log_held_total", "counter", "Of those, repeats held back from the log (each format at most once a minute).", float64(st.Outbox.BadgerLogHeld))
	metric("edgepulse_agent_spool_last_seq", "gauge", "Highest batch sequence number issued (never goes back).", float64(a.spool.LastSeq()))
	metric("edgepulse_agent_gc_percent", "gauge", "GOGC now: the heap grows by heap_headroom above the live heap (0: the runtime's own).", float64(a.gcPercent.Load()))
	metric("edgepulse_agent_disk_reserve_bytes", "gauge", "Free space the agent leaves on the data directory's file system.", float64(a.spool.Reserve()))
	if free, err := a.spool.DiskFree(); err == nil {
		metric("edgepulse_agent_disk_free_bytes", "gauge", "Free space on the data directory's file system.", float64(free))
	}
	metric("edgepulse_agent_published_total", "counter", "Batches acknowledged by JetStream.", float64(st.Forward.Published))
	metric("edgepulse_agent_published_duplicate_total", "counter", "Acknowledged batches the stream already held.", float64(st.Forward.Duplicate))
	metric("edgepulse_agent_publish_retries_total", "counter", "Failed publish rounds that were retried.", float64(st.Forward.Retries))
	metric("edgepulse_agent_publish_rejected_total", "counter", "Batches the server refused for good (dropped).", float64(st.Forward.Rejected))
	metric("edgepulse_agent_publish_latency_seconds", "gauge", "Publish-to-ack latency of the last batch.", float64(st.Forward.LastAckNs)/1e9)
	metric("edgepulse_agent_frames_keyframe_total", "counter", "Frames published that decode on their own.", float64(st.Forward.Keyframes))
	metric("edgepulse_agent_wire_batch_bytes_total", "counter", "Bytes of the spooled batches handed to the wire encoder.", float64(st.Forward.BatchBytes))
	metric("edgepulse_agent_wire_frame_bytes_total", "counter", "Bytes of the frames published (resends included): the payload on the uplink.", float64(st.Forward.FrameBytes))
	metric("edgepulse_agent_publish_in_flight", "gauge", "Publishes awaiting their ack now.", float64(st.Forward.InFlight))
	metric("edgepulse_agent_publish_in_flight_max", "gauge", "The most publishes ever awaiting their ack at once.", float64(st.Forward.MaxInFlight))
	a.serveOnDemandMetrics(metric)
	a.serveClockMetrics(metric)
	d := prometheus.NewDesc("edgepulse_agent_source_errors_total", "Collection failures by source.", []string{"source"}, nil)
	names := make([]string, 0, len(st.SourceErrors))
	for n := range st.SourceErrors {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(st.SourceErrors[n]), n)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
