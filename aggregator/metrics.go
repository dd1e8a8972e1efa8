package aggregator

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// newRegistry is the registry /metrics serves: the aggregator's own
// numbers (aggregatorCollector), the Go runtime's and the process's, and
// whatever else registers into it (the PromQL engine's metrics).
func newRegistry(a *Aggregator) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		aggregatorCollector{a},
	)
	return reg
}

// aggregatorCollector reads the aggregator's counters and gauges at scrape
// time from the types that own them (one copy of each number, kept where
// it is counted), as constant metrics. It is an unchecked collector: its
// set of metrics depends on the configuration (hub or not) and on what a
// scrape could read.
type aggregatorCollector struct{ a *Aggregator }

func (aggregatorCollector) Describe(chan<- *prometheus.Desc) {}

// metricsTimeout bounds the Redis reads of one scrape (the backhaul meter).
const metricsTimeout = 5 * time.Second

func (c aggregatorCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	st := a.Stats()
	valueType := func(typ string) prometheus.ValueType {
		if typ == "counter" {
			return prometheus.CounterValue
		}
		return prometheus.GaugeValue
	}
	metric := func(name, typ, help string, v float64) {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, nil, nil), valueType(typ), v)
	}
	// labelled sends one series per value of label, vals[i] for values[i].
	labelled := func(name, typ, help, label string, values []string, vals func(i int) float64) {
		d := prometheus.NewDesc(name, help, []string{label}, nil)
		for i, lv := range values {
			ch <- prometheus.MustNewConstMetric(d, valueType(typ), vals(i), lv)
		}
	}
	metric("edgepulse_aggregator_batches_applied_total", "counter", "Batches written to Redis.", float64(st.Applied))
	metric("edgepulse_aggregator_rollups_total", "counter", "Rollups written to Redis.", float64(st.Rollups))
	metric("edgepulse_aggregator_decode_errors_total", "counter", "Batches rejected as malformed or of an unknown version.", float64(st.DecodeErrors))
	metric("edgepulse_aggregator_store_errors_total", "counter", "Failed Redis writes (the batch is redelivered).", float64(st.StoreErrors))
	metric("edgepulse_aggregator_alerts_total", "counter", "Incident events republished on alerts.>.", float64(st.Alerts))
	metric("edgepulse_aggregator_redelivered_total", "counter", "Messages received more than once.", float64(st.Redelivered))
	metric("edgepulse_aggregator_frames_duplicate_total", "counter", "Frames applied before and acknowledged again.", float64(st.Duplicates))
	metric("edgepulse_aggregator_frames_base_wait_total", "counter", "Deliveries of delta frames put back to wait for their base frame.", float64(st.BaseWaits))
	metric("edgepulse_aggregator_frames_base_lost_total", "counter", "Delta frames dropped because their base frame never arrived.", float64(st.BaseLost))
	metric("edgepulse_aggregator_frames_await_evicted_total", "counter", "Awaited base states forgotten because an agent had too many frames waiting (aggregator/awaited.go maxAwaited).", float64(a.ingest.wire.awaitEvicted.Load()))
	metric("edgepulse_aggregator_keyframes_asked_total", "counter", "Keyframe requests sent to agents whose chain of frames broke here.", float64(st.KeyframesAsked))
	metric("edgepulse_aggregator_frame_bytes_total", "counter", "Bytes of the frames applied (the packed payload the agents sent).", float64(st.FrameBytes))
	metric("edgepulse_aggregator_rebalances_total", "counter", "New partition assignments adopted.", float64(st.Rebalances))
	metric("edgepulse_aggregator_assignment_errors_total", "counter", "Stored partition assignments that could not be decoded or checked (ignored, then replaced).", float64(a.members.view.badAssign.Load()))
	metric("edgepulse_aggregator_partitions_owned", "gauge", "Partitions this member consumes.", float64(len(st.Owned)))
	metric("edgepulse_aggregator_members", "gauge", "Members of the partition assignment this member consumes by.", float64(len(st.Members)))
	reasons := []string{ReasonSubject, ReasonSiteMismatch, ReasonHostMismatch, ReasonIdentity, ReasonTooLarge, ReasonLabel}
	labelled("edgepulse_aggregator_batches_rejected_total", "counter", "Decoded batches rejected by validation (terminated), by reason.", "reason",
		reasons, func(i int) float64 { return float64(st.Rejected[reasons[i]]) })
	labelled("edgepulse_aggregator_series_dropped_total", "counter", "New series dropped by a cardinality cap, by scope.", "scope",
		[]string{"host", "site"}, func(i int) float64 { return float64([]uint64{st.SeriesDroppedHost, st.SeriesDroppedSite}[i]) })
	labelled("edgepulse_aggregator_store_write_errors_total", "counter", "Failed Redis writes (the batch is redelivered), by reason.", "reason",
		store.ErrorReasons, func(i int) float64 { return float64(st.StoreWriteErrors[store.ErrorReasons[i]]) })
	skews := []string{SkewAhead, SkewBehind}
	labelled("edgepulse_aggregator_windows_skewed_total", "counter", "Windows whose end was more than clock.max_ahead after, or clock.max_behind before, the time their frame reached the hub (stored as stamped), by reason.", "reason",
		skews, func(i int) float64 { return float64(st.Skewed[skews[i]]) })
	now := time.Now()
	wf, _ := a.health.writes.failing(now, a.health.writeStale())
	metric("edgepulse_aggregator_store_write_failing_seconds", "gauge", "How long Redis writes have kept failing (0 after a success); /readyz fails past redis_unready_after.", wf.Seconds())
	ready := 1.0
	if a.http.ready(now) != nil {
		ready = 0
	}
	metric("edgepulse_aggregator_ready", "gauge", "1 while /readyz answers 200.", ready)
	// The store's capacity, computed every capacityEvery (store-wide: every
	// member reports the same numbers). On failure the last value stays.
	if c, at, warn := a.health.capacity.last(); !at.IsZero() {
		metric("edgepulse_store_series", "gauge", "Series in the store's index.", float64(c.Series))
		metric("edgepulse_store_windows", "gauge", "Windows stored in the minute tier within retention.", float64(c.StoredWindows))
		metric("edgepulse_store_redis_used_memory_bytes", "gauge", "Redis used_memory summed over masters.", float64(c.UsedMemory))
		metric("edgepulse_store_redis_max_memory_bytes", "gauge", "Redis maxmemory summed over masters (0: no limit on some master).", float64(c.MaxMemory))
		metric("edgepulse_store_bytes_per_window", "gauge", "Redis used_memory per stored window.", c.BytesPerWindow)
		metric("edgepulse_store_redis_masters", "gauge", "Redis masters the store writes to.", float64(c.Masters))
		w := 0.0
		if warn {
			w = 1
		}
		metric("edgepulse_store_memory_warning", "gauge", "1 while Redis used_memory is above redis.memory_warn_fraction of maxmemory.", w)
		metric("edgepulse_store_capacity_age_seconds", "gauge", "Age of the capacity numbers above.", now.Sub(at).Seconds())
	}
	metric("edgepulse_store_capacity_errors_total", "counter", "Failures to compute the store's capacity (the gauges keep their last value).", float64(a.health.capacity.errs.Load()))
	metric("edgepulse_store_write_caches_dropped_total", "counter", "Times the store dropped its write caches (index entries written, agents' hours) after a failed write or a probe that found Redis lost writes.", float64(a.store.Forgets()))
	metric("edgepulse_store_incident_log_trimmed_total", "counter", "Incident log events removed by its bounds (redis.incident_log_retention, redis.incident_log_max), oldest first.", float64(a.store.IncidentsTrimmed()))
	ageN, capN := a.store.IncidentsExpired()
	labelled("edgepulse_store_incidents_expired_total", "counter", "Open incidents the store closed as expired, by bound: age (no event for redis.incident_open_max_age), cap (past redis.incident_open_max, oldest first).", "reason",
		[]string{"age", "cap"}, func(i int) float64 { return float64([]uint64{ageN, capN}[i]) })
	metric("edgepulse_store_incident_late_events_total", "counter", "Incident events applied for an incident already closed as expired (a late close, a redelivered open); they reopen nothing.", float64(a.store.IncidentLateEvents()))
	metric("edgepulse_store_incident_expiry_errors_total", "counter", "Runs of the open incidents' expiry that failed, periodic or by a write past redis.incident_open_max (the next one continues).", float64(a.health.incidents.errs.Load()+a.store.IncidentCapErrors()))
	if n := a.health.incidents.open.Load(); n >= 0 {
		metric("edgepulse_store_incidents_open", "gauge", "Open incidents ({inc}open) after the last expiry run, at most redis.incident_open_max.", float64(n))
	}
	metric("edgepulse_store_windows_expired_on_arrival_total", "counter", "Windows not written because their hour was already past the retention when they arrived (data time).", float64(a.store.Expired()))
	dc := a.store.DecodedCacheStats()
	metric("edgepulse_store_decoded_cache_hits_total", "counter", "Chunks a query took decoded from the decoded-chunk cache (same bytes as when decoded).", float64(dc.Hits))
	metric("edgepulse_store_decoded_cache_misses_total", "counter", "Chunks a query decoded (not in the decoded-chunk cache, or changed since).", float64(dc.Misses))
	metric("edgepulse_store_decoded_cache_evictions_total", "counter", "Chunks dropped from the decoded-chunk cache for its bound (redis.decoded_cache_windows).", float64(dc.Evictions))
	metric("edgepulse_store_decoded_cache_windows", "gauge", "Windows held by the decoded-chunk cache (96 B each).", float64(dc.Windows))
	metric("edgepulse_store_index_swept_series_total", "counter", "Series removed from the index after their data expired from both tiers.", float64(a.health.capacity.swept.Load()))
	metric("edgepulse_store_index_sweep_errors_total", "counter", "Index sweeps that failed (the next one continues).", float64(a.health.capacity.sweepErrs.Load()))
	metric("edgepulse_aggregator_agents_decoding", "gauge", "Agents whose frame decoder states this member holds.", float64(st.AgentsDecoding))
	metric("edgepulse_aggregator_series_tracked", "gauge", "Distinct series the cardinality caps track on this member.", float64(st.SeriesTracked))
	gs := a.api.GuardStats()
	metric("edgepulse_query_unauthorized_total", "counter", "Query API requests without a valid bearer token (401).", float64(gs.Unauthorized))
	metric("edgepulse_query_limited_total", "counter", "Query API requests refused as invalid or over a limit (4xx).", float64(gs.Limited))
	metric("edgepulse_query_timeouts_total", "counter", "Query API requests that ran out of limits.timeout (503).", float64(gs.Timeouts))
	as := a.api.AdmitStats()
	metric("edgepulse_query_admitted_total", "counter", "Query API requests that got a query slot (limits.max_concurrent).", float64(as.Admitted))
	overloaded := []uint64{as.Full, as.TimedOut, as.HeavyFull, as.HeavyTimedOut}
	labelled("edgepulse_query_overloaded_total", "counter", "Query API requests refused with 503 and Retry-After, by reason: the queue for a slot was full or the wait ran out of limits.queue_timeout (heavy_: for a heavy slot).", "reason",
		[]string{"queue_full", "queue_timeout", "heavy_queue_full", "heavy_queue_timeout"}, func(i int) float64 { return float64(overloaded[i]) })
	metric("edgepulse_query_heavy_total", "counter", "Queries that loaded more than limits.heavy_samples and moved to a heavy slot.", float64(as.Heavy))
	metric("edgepulse_query_sample_budget_exceeded_total", "counter", "Queries refused (422) for loading more than limits.max_samples from the store.", float64(as.Budget))
	metric("edgepulse_query_running", "gauge", "Query API requests holding an ordinary slot.", float64(as.Running))
	metric("edgepulse_query_queued", "gauge", "Query API requests waiting for an ordinary slot.", float64(as.Queued))
	metric("edgepulse_query_heavy_running", "gauge", "Queries holding a heavy slot.", float64(as.HeavyRunning))
	metric("edgepulse_query_heavy_queued", "gauge", "Queries waiting for a heavy slot.", float64(as.HeavyQueued))
	metric("edgepulse_query_queue_wait_seconds_total", "counter", "Time Query API requests waited for an ordinary slot.", as.WaitSeconds)
	metric("edgepulse_aggregator_redis_write_seconds_total", "counter", "Time spent in Redis writes of batches.", time.Duration(a.ingest.writeNs.Load()).Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), metricsTimeout)
	defer cancel()
	bh, err := a.store.Backhauls(ctx, backhaulMinutes, time.Now())
	if err != nil {
		// The gauges below are missing from this scrape; say so rather
		// than let them vanish silently.
		a.metricsErrs.Add(1)
		a.log.Warn("/metrics: reading the backhaul meter from Redis; its gauges are left out of this scrape", "err", err)
	}
	metric("edgepulse_aggregator_metrics_errors_total", "counter", "Scrapes of /metrics that could not read a source (the backhaul meter in Redis) and left its series out.", float64(a.metricsErrs.Load()))
	sites := make([]string, len(bh))
	for i, s := range bh {
		sites[i] = s.Site
	}
	labelled("edgepulse_aggregator_backhaul_bytes_per_host_minute", "gauge", fmt.Sprintf("Frame bytes per host-minute by site over the last %d whole minutes (protocol overhead not included).", backhaulMinutes), "site",
		sites, func(i int) float64 { return bh[i].BytesPerHostMinute })
	labelled("edgepulse_aggregator_backhaul_hosts", "gauge", "Mean hosts reporting per minute by site, over those of the same minutes that had any.", "site",
		sites, func(i int) float64 { return bh[i].Hosts })
	if a.hub.ns != nil {
		// Backhaul as the hub sees it: payload bytes over leaf-node
		// connections (protocol overhead and compression not included; the
		// testbench's counting proxy measures the wire).
		lz, err := a.hub.ns.Leafz(&server.LeafzOptions{})
		if err == nil {
			var in, out int64
			for _, l := range lz.Leafs {
				in += l.InBytes
				out += l.OutBytes
			}
			labelled("edgepulse_aggregator_leaf_bytes_total", "counter", "Payload bytes over leaf-node connections.", "direction",
				[]string{"in", "out"}, func(i int) float64 { return float64([]int64{in, out}[i]) })
			metric("edgepulse_aggregator_leaf_connections", "gauge", "Leaf-node connections (sites) to this hub.", float64(len(lz.Leafs)))
		}
	}
}
