package agent

import (
	"sync/atomic"
	"time"

	"github.com/edgepulse/edgepulse/edge/history"
	"github.com/edgepulse/edgepulse/edge/queue"
)

// onDemand is the agent's detail-on-demand and remote-control state: raw
// history, the NATS micro service and the pushed configuration. Its hooks
// are called from New, Run, rollupLoop and Close.
type onDemand struct {
	hist    atomic.Pointer[history.History] // nil when history is off, or until a full disk lets the spool open
	svc     *service
	remote  *remote
	started time.Time
	live    liveStream // live mode (live.go)
}

// initOnDemand opens the history in the spool's database, loads the last
// good pushed configuration and registers the micro service. Called by New
// once the spool, NATS connection and detector exist.
func (a *Agent) initOnDemand() error {
	a.od.started = time.Now()
	a.detLive.Store(a.det)
	if err := a.startHistory(); err != nil {
		return err
	}
	r, err := newRemote(a)
	if err != nil {
		return err
	}
	a.od.remote = r
	svc, err := newService(a)
	if err != nil {
		return err
	}
	a.od.svc = svc
	return nil
}

// startHistory opens the raw history in the spool's database, when
// history is on and the spool is open (a full disk at start keeps it
// closed: spoolRetryLoop calls this again once it opens).
func (a *Agent) startHistory() error {
	db := a.spool.DB()
	if !a.cfg.History.On() || db == nil || a.od.hist.Load() != nil {
		return nil
	}
	h, err := history.New(db, a.cfg.History, a.seriesName, a.log)
	if err != nil {
		return err
	}
	// The history yields the disk first: it stops below twice the
	// spool's reserve, the spool only below its reserve.
	h.SetRoom(func(n int64) (bool, error) { return a.spool.Room(n, 2*a.spool.Reserve()) })
	a.od.hist.Store(h)
	return nil
}

func (a *Agent) seriesName(id uint32) (string, []string, bool) {
	d := a.reg.Desc(id)
	if d == nil {
		return "", nil, false
	}
	return d.Name, d.Labels, true
}

// historyAppend is the rollup loop's hook for every popped batch.
func (a *Agent) historyAppend(s []queue.Sample) {
	if h := a.od.hist.Load(); h != nil && len(s) > 0 {
		h.Append(s)
	}
	a.liveAdd(s)
}

// endCycle is the rollup loop's hook after every cycle: write the minute
// that ended (once a minute) and switch to a newly pushed detector.
func (a *Agent) endCycle(final bool) {
	a.liveFlush() // first: the minute's history write must not delay it
	if h := a.od.hist.Load(); h != nil {
		if err := h.Flush(a.clk.now(), final); err != nil {
			a.log.Warn("history: flush", "err", err)
		}
	}
	a.swapDetector()
}

// closeOnDemand stops the micro service and the config watch.
func (a *Agent) closeOnDemand() {
	if a.od.svc != nil {
		a.od.svc.stop()
	}
	if a.od.remote != nil {
		a.od.remote.stop()
	}
}

// serveOnDemandMetrics writes the history and pushed-config counters.
func (a *Agent) serveOnDemandMetrics(metric func(name, typ, help string, v float64)) {
	a.serveLiveMetrics(metric)
	if h := a.od.hist.Load(); h != nil {
		st := h.Stats()
		metric("edgepulse_agent_history_bytes", "gauge", "Raw history bytes held (keys plus values, before compression).", float64(st.Bytes))
		metric("edgepulse_agent_history_minutes", "gauge", "Minutes of raw history held.", float64(st.Minutes))
		metric("edgepulse_agent_history_samples_total", "counter", "Raw samples written to history.", float64(st.Samples))
		metric("edgepulse_agent_history_buffered_samples", "gauge", "Raw samples waiting in memory for their minute to end.", float64(st.Buffered))
		metric("edgepulse_agent_history_late_samples_total", "counter", "Raw samples for a minute already written (not kept).", float64(st.Late))
		metric("edgepulse_agent_history_dropped_minutes_total", "counter", "History minutes deleted because max_bytes was reached.", float64(st.DroppedMinutes))
		metric("edgepulse_agent_history_expired_minutes_total", "counter", "History minutes deleted after the retention.", float64(st.ExpiredMinutes))
		metric("edgepulse_agent_history_errors_total", "counter", "Failed history writes, deletes and unreadable blocks.", float64(st.Errors))
		metric("edgepulse_agent_history_disk_dropped_samples_total", "counter", "Raw samples not written because the disk was near twice the reserve.", float64(st.DiskDropped))
	}
	if r := a.od.remote; r != nil {
		st := r.status()
		metric("edgepulse_agent_config_applied_total", "counter", "Pushed configuration changes applied.", float64(st.Applies))
		metric("edgepulse_agent_config_rejected_total", "counter", "Pushed configuration changes refused as invalid.", float64(st.Rejected))
		metric("edgepulse_agent_config_read_errors_total", "counter", "Failed reads of the configuration bucket.", float64(st.Errors))
	}
}
