package aggregator

import (
	"bufio"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// metrics serves the aggregator's own counters in the Prometheus text
// exposition format (GET /metrics).
func (a *Aggregator) metrics(w http.ResponseWriter, r *http.Request) {
	st := a.Stats()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	b := bufio.NewWriter(w)
	defer b.Flush()
	metric := func(name, typ, help string, v float64) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", name, help, name, typ, name, v)
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
	metric("edgepulse_aggregator_keyframes_asked_total", "counter", "Keyframe requests sent to agents whose chain of frames broke here.", float64(st.KeyframesAsked))
	metric("edgepulse_aggregator_frame_bytes_total", "counter", "Bytes of the frames applied (the packed payload the agents sent).", float64(st.FrameBytes))
	metric("edgepulse_aggregator_rebalances_total", "counter", "New partition assignments adopted.", float64(st.Rebalances))
	metric("edgepulse_aggregator_assignment_errors_total", "counter", "Stored partition assignments that could not be decoded or checked (ignored, then replaced).", float64(a.members.badAssign.Load()))
	metric("edgepulse_aggregator_partitions_owned", "gauge", "Partitions this member consumes.", float64(len(st.Owned)))
	metric("edgepulse_aggregator_members", "gauge", "Members of the partition assignment this member consumes by.", float64(len(st.Members)))
	fmt.Fprintf(b, "# HELP edgepulse_aggregator_batches_rejected_total Decoded batches rejected by validation (terminated), by reason.\n# TYPE edgepulse_aggregator_batches_rejected_total counter\n")
	for _, r := range []string{ReasonSubject, ReasonSiteMismatch, ReasonHostMismatch, ReasonIdentity, ReasonTooLarge, ReasonLabel} {
		fmt.Fprintf(b, "edgepulse_aggregator_batches_rejected_total{reason=%q} %d\n", r, st.Rejected[r])
	}
	fmt.Fprintf(b, "# HELP edgepulse_aggregator_series_dropped_total New series dropped by a cardinality cap, by scope.\n# TYPE edgepulse_aggregator_series_dropped_total counter\n")
	fmt.Fprintf(b, "edgepulse_aggregator_series_dropped_total{scope=\"host\"} %d\nedgepulse_aggregator_series_dropped_total{scope=\"site\"} %d\n", st.SeriesDroppedHost, st.SeriesDroppedSite)
	fmt.Fprintf(b, "# HELP edgepulse_aggregator_store_write_errors_total Failed Redis writes (the batch is redelivered), by reason.\n# TYPE edgepulse_aggregator_store_write_errors_total counter\n")
	for _, r := range store.ErrorReasons {
		fmt.Fprintf(b, "edgepulse_aggregator_store_write_errors_total{reason=%q} %d\n", r, st.StoreWriteErrors[r])
	}
	fmt.Fprintf(b, "# HELP edgepulse_aggregator_windows_skewed_total Windows whose end was more than clock.max_ahead after, or clock.max_behind before, the time their frame reached the hub (stored as stamped), by reason.\n# TYPE edgepulse_aggregator_windows_skewed_total counter\n")
	for _, r := range []string{SkewAhead, SkewBehind} {
		fmt.Fprintf(b, "edgepulse_aggregator_windows_skewed_total{reason=%q} %d\n", r, st.Skewed[r])
	}
	now := time.Now()
	wf, _ := a.writes.failing(now, a.writeStale())
	metric("edgepulse_aggregator_store_write_failing_seconds", "gauge", "How long Redis writes have kept failing (0 after a success); /readyz fails past redis_unready_after.", wf.Seconds())
	ready := 1.0
	if a.ready(now) != nil {
		ready = 0
	}
	metric("edgepulse_aggregator_ready", "gauge", "1 while /readyz answers 200.", ready)
	// The store's capacity, computed every capacityEvery (store-wide: every
	// member reports the same numbers). On failure the last value stays.
	if c, at, warn := a.capacity.last(); !at.IsZero() {
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
	metric("edgepulse_store_capacity_errors_total", "counter", "Failures to compute the store's capacity (the gauges keep their last value).", float64(a.capacity.errs.Load()))
	metric("edgepulse_store_write_caches_dropped_total", "counter", "Times the store dropped its write caches (index entries written, agents' hours) after a failed write or a probe that found Redis lost writes.", float64(a.store.Forgets()))
	metric("edgepulse_store_windows_expired_on_arrival_total", "counter", "Windows not written because their hour was already past the retention when they arrived (data time).", float64(a.store.Expired()))
	metric("edgepulse_store_index_swept_series_total", "counter", "Series removed from the index after their data expired from both tiers.", float64(a.capacity.swept.Load()))
	metric("edgepulse_store_index_sweep_errors_total", "counter", "Index sweeps that failed (the next one continues).", float64(a.capacity.sweepErrs.Load()))
	metric("edgepulse_aggregator_agents_decoding", "gauge", "Agents whose frame decoder states this member holds.", float64(st.AgentsDecoding))
	metric("edgepulse_aggregator_series_tracked", "gauge", "Distinct series the cardinality caps track on this member.", float64(st.SeriesTracked))
	gs := a.api.GuardStats()
	metric("edgepulse_query_unauthorized_total", "counter", "Query API requests without a valid bearer token (401).", float64(gs.Unauthorized))
	metric("edgepulse_query_limited_total", "counter", "Query API requests refused as invalid or over a limit (4xx).", float64(gs.Limited))
	metric("edgepulse_query_timeouts_total", "counter", "Query API requests that ran out of limits.timeout (503).", float64(gs.Timeouts))
	as := a.api.AdmitStats()
	metric("edgepulse_query_admitted_total", "counter", "Query API requests that got a query slot (limits.max_concurrent).", float64(as.Admitted))
	fmt.Fprintf(b, "# HELP edgepulse_query_overloaded_total Query API requests refused with 503 and Retry-After, by reason: the queue for a slot was full or the wait ran out of limits.queue_timeout (heavy_: for a heavy slot).\n# TYPE edgepulse_query_overloaded_total counter\n")
	for _, r := range []struct {
		reason string
		n      uint64
	}{{"queue_full", as.Full}, {"queue_timeout", as.TimedOut}, {"heavy_queue_full", as.HeavyFull}, {"heavy_queue_timeout", as.HeavyTimedOut}} {
		fmt.Fprintf(b, "edgepulse_query_overloaded_total{reason=%q} %d\n", r.reason, r.n)
	}
	metric("edgepulse_query_heavy_total", "counter", "Queries that loaded more than limits.heavy_samples and moved to a heavy slot.", float64(as.Heavy))
	metric("edgepulse_query_sample_budget_exceeded_total", "counter", "Queries refused (422) for loading more than limits.max_samples from the store.", float64(as.Budget))
	metric("edgepulse_query_running", "gauge", "Query API requests holding an ordinary slot.", float64(as.Running))
	metric("edgepulse_query_queued", "gauge", "Query API requests waiting for an ordinary slot.", float64(as.Queued))
	metric("edgepulse_query_heavy_running", "gauge", "Queries holding a heavy slot.", float64(as.HeavyRunning))
	metric("edgepulse_query_heavy_queued", "gauge", "Queries waiting for a heavy slot.", float64(as.HeavyQueued))
	metric("edgepulse_query_queue_wait_seconds_total", "counter", "Time Query API requests waited for an ordinary slot.", as.WaitSeconds)
	metric("edgepulse_aggregator_redis_write_seconds_total", "counter", "Time spent in Redis writes of batches.", time.Duration(a.writeNs.Load()).Seconds())
	if bh, err := a.store.Backhauls(r.Context(), backhaulMinutes, time.Now()); err == nil && len(bh) > 0 {
		fmt.Fprintf(b, "# HELP edgepulse_aggregator_backhaul_bytes_per_host_minute Frame bytes per host-minute by site over the last %d whole minutes (protocol overhead not included).\n# TYPE edgepulse_aggregator_backhaul_bytes_per_host_minute gauge\n", backhaulMinutes)
		for _, s := range bh {
			fmt.Fprintf(b, "edgepulse_aggregator_backhaul_bytes_per_host_minute{site=%q} %g\n", s.Site, s.BytesPerHostMinute)
		}
		fmt.Fprintf(b, "# HELP edgepulse_aggregator_backhaul_hosts Hosts reporting per minute by site over the same minutes.\n# TYPE edgepulse_aggregator_backhaul_hosts gauge\n")
		for _, s := range bh {
			fmt.Fprintf(b, "edgepulse_aggregator_backhaul_hosts{site=%q} %g\n", s.Site, s.Hosts)
		}
	}
	if a.ns != nil {
		// Backhaul as the hub sees it: payload bytes over leaf-node
		// connections (protocol overhead and compression not included; the
		// testbench's counting proxy measures the wire).
		lz, err := a.ns.Leafz(&server.LeafzOptions{})
		if err == nil {
			fmt.Fprintf(b, "# HELP edgepulse_aggregator_leaf_bytes_total Payload bytes over leaf-node connections.\n# TYPE edgepulse_aggregator_leaf_bytes_total counter\n")
			var in, out int64
			for _, l := range lz.Leafs {
				in += l.InBytes
				out += l.OutBytes
			}
			fmt.Fprintf(b, "edgepulse_aggregator_leaf_bytes_total{direction=\"in\"} %d\nedgepulse_aggregator_leaf_bytes_total{direction=\"out\"} %d\n", in, out)
			metric("edgepulse_aggregator_leaf_connections", "gauge", "Leaf-node connections (sites) to this hub.", float64(len(lz.Leafs)))
		}
	}
	a.writeRegionMetrics(b)
	a.console.WriteMetrics(b) // the web console's series (aggregator/console)
}
