package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// Liveness and readiness.
//
// /healthz (liveness) answers 200 while the process, its embedded hub
// (JetStream enabled) and its NATS connection work: it never asks Redis,
// so an orchestrator does not restart a member — and the hub buffering
// the sites' batches — through a Redis outage.
//
// /readyz (readiness) answers 503, saying why, while NATS is not
// connected, or while Redis writes, or the probe (PING and a SET every
// probeEvery), have kept failing for longer than redis_unready_after.

// storeHealth is what this member knows of Redis: the data path's write
// outcomes and failures by reason, the readiness probe's outcomes, and
// the store's capacity and memory warning, each refreshed by its own loop.
// Safe for concurrent use.
type storeHealth struct {
	store        *store.Store
	member       string        // the probe's key
	unreadyAfter time.Duration // redis_unready_after
	log          *slog.Logger

	storeErrs atomic.Uint64 // failed Redis operations of the data path
	writeErrs writeErrors   // the same by reason
	writes    streak        // outcomes of the data path's writes
	probe     streak        // outcomes of the readiness probe
	capacity  capacity      // the store's last capacity, the memory warning
	incidents incidentSweep // the expiry of open incidents (incidentsweep.go)
}

func newStoreHealth(st *store.Store, member string, unreadyAfter time.Duration, log *slog.Logger) *storeHealth {
	h := &storeHealth{store: st, member: member, unreadyAfter: unreadyAfter, log: log, writeErrs: newWriteErrors()}
	h.capacity.warn.fraction = st.MemoryWarnFraction()
	h.incidents.open.Store(-1)
	return h
}

// failed counts a failed Redis operation of the data path (a batch
// will be redelivered) by reason. Only the pipelined writes' outcomes
// (flush) make the failing run readiness looks at: the reads before them
// (wire state, hourly compaction) can fail on one batch's data too.
func (h *storeHealth) failed(err error) {
	h.storeErrs.Add(1)
	h.writeErrs[store.ErrorReason(err)].Add(1)
}

// streak tracks the outcomes of one kind of Redis operation: when the
// current run of failures started (zero after a success), and the last
// error. Safe for concurrent use.
type streak struct {
	mu                      sync.Mutex
	since, lastFail, lastOK time.Time
	err                     error
}

func (s *streak) fail(err error, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() {
		s.since = now
	}
	s.lastFail, s.err = now, err
}

func (s *streak) ok(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.since, s.err, s.lastOK = time.Time{}, nil, now
}

// failing returns how long the current run of failures has lasted and its
// last error; 0 and nil when the last outcome was a success. A run whose
// last failure is older than stale is over (nothing was tried since).
func (s *streak) failing(now time.Time, stale time.Duration) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() || (stale > 0 && now.Sub(s.lastFail) > stale) {
		return 0, nil
	}
	return now.Sub(s.since), s.err
}

// writeErrors counts failed Redis writes by store.ErrorReason.
type writeErrors map[string]*atomic.Uint64

func newWriteErrors() writeErrors {
	m := make(writeErrors, len(store.ErrorReasons))
	for _, r := range store.ErrorReasons {
		m[r] = new(atomic.Uint64)
	}
	return m
}

func (w writeErrors) snapshot() map[string]uint64 {
	out := make(map[string]uint64, len(w))
	for r, n := range w {
		out[r] = n.Load()
	}
	return out
}

// probeEvery is how often the readiness probe runs: often enough to see a
// failure run redis_unready_after long within a quarter of it, at most
// every 5 s.
func (h *storeHealth) probeEvery() time.Duration {
	return min(max(h.unreadyAfter/4, 250*time.Millisecond), 5*time.Second)
}

// writeStale is how old the last failed write may be for its run to
// still count: without any write attempted since (no traffic), readiness
// rests on the probe alone. Failed batches are redelivered every few
// seconds, so a real run of failures keeps it fresh.
func (h *storeHealth) writeStale() time.Duration {
	return max(2*h.unreadyAfter, 30*time.Second)
}

// probeLoop probes Redis every probeEvery until ctx is done.
func (h *storeHealth) probeLoop(ctx context.Context) {
	every := h.probeEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, max(every, 2*time.Second))
		lost, err := h.store.Probe(pctx, h.member)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case lost:
			h.log.Warn("redis lost writes since the last probe (restarted empty or from an older snapshot, or a failover); writing the index again")
			h.probe.ok(time.Now())
		case err != nil:
			if d, _ := h.probe.failing(time.Now(), 0); d == 0 {
				h.log.Warn("redis probe failed", "reason", store.ErrorReason(err), "err", err)
			}
			h.probe.fail(err, time.Now())
		default:
			if d, _ := h.probe.failing(time.Now(), 0); d > 0 {
				h.log.Info("redis probe ok again", "failed_for", d.Round(time.Millisecond))
			}
			h.probe.ok(time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ready returns why Redis should keep this member out of traffic: its
// writes, or the probe, have kept failing for longer than
// redis_unready_after. nil otherwise.
func (h *storeHealth) ready(now time.Time) error {
	after := h.unreadyAfter
	if d, err := h.writes.failing(now, h.writeStale()); d > after {
		return fmt.Errorf("redis: writes failing for %s: %v", d.Round(time.Second), err)
	}
	if d, err := h.probe.failing(now, 0); d > after {
		return fmt.Errorf("redis: probe failing for %s: %v", d.Round(time.Second), err)
	}
	return nil
}

// capacityEvery is how often the store's capacity is computed (its
// gauges on /metrics show the last one) and the memory warning checked.
const capacityEvery = 30 * time.Second

// capacity caches the store's last Capacity.
type capacity struct {
	mu   sync.Mutex
	c    store.Capacity
	at   time.Time // zero before the first success
	errs atomic.Uint64
	warn memWarn
	// The index sweep (store.Sweep), run every indexSweepEvery from this loop.
	swept, sweepErrs atomic.Uint64
	sweptAt          time.Time
}

// indexSweepEvery is how often a member sweeps the index of series gone for
// longer than the retentions.
const indexSweepEvery = time.Hour

func (c *capacity) last() (store.Capacity, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c, c.at, c.warn.over
}

// capacityLoop refreshes the capacity every capacityEvery until ctx is
// done.
func (h *storeHealth) capacityLoop(ctx context.Context) {
	t := time.NewTicker(capacityEvery)
	defer t.Stop()
	for {
		h.refreshCapacity(ctx)
		h.sweepIncidents(ctx)
		if time.Since(h.capacity.sweptAt) >= indexSweepEvery {
			h.capacity.sweptAt = time.Now()
			h.sweepIndex(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepIndex removes the index entries of series whose data has expired
// from both tiers, so the index is bounded by the series written within
// the retention.
func (h *storeHealth) sweepIndex(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	n, err := h.store.Sweep(sctx, time.Now())
	cancel()
	h.capacity.swept.Add(uint64(n))
	if err != nil && ctx.Err() == nil {
		h.capacity.sweepErrs.Add(1)
		h.log.Warn("sweeping the index of expired series; the next sweep continues", "swept", n, "err", err)
		return
	}
	if n > 0 {
		h.log.Info("swept the index of series past both retentions", "series", n)
	}
}

// refreshCapacity computes the capacity and checks the memory warning;
// on failure it keeps the last value and counts the error.
func (h *storeHealth) refreshCapacity(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := h.store.Capacity(cctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			h.capacity.errs.Add(1)
			h.log.Warn("computing the store's capacity; /metrics keeps the last value", "err", err)
		}
		return
	}
	h.capacity.mu.Lock()
	h.capacity.c, h.capacity.at = c, time.Now()
	ev := h.capacity.warn.update(c)
	h.capacity.mu.Unlock()
	switch ev {
	case memUnbounded:
		h.log.Warn("redis has no maxmemory: its memory is unbounded (set maxmemory and maxmemory-policy noeviction; docs/deploy.md)",
			"used_memory", c.UsedMemory, "masters", c.Masters)
	case memOver:
		h.log.Warn("redis memory above the warning fraction of maxmemory", "used_memory", c.UsedMemory, "maxmemory", c.MaxMemory,
			"fraction", h.capacity.warn.fraction, "series", c.Series, "stored_windows", c.StoredWindows, "bytes_per_window", c.BytesPerWindow)
	case memBelow:
		h.log.Info("redis memory back below the warning fraction of maxmemory", "used_memory", c.UsedMemory, "maxmemory", c.MaxMemory,
			"fraction", h.capacity.warn.fraction)
	}
}

// Events of memWarn.update.
const (
	memNone      = iota
	memUnbounded // first capacity without maxmemory (once per process)
	memOver      // used_memory crossed fraction × maxmemory upwards
	memBelow     // and back down
)

// memWarn turns successive capacities into one event per crossing of
// fraction × maxmemory.
type memWarn struct {
	fraction        float64
	over, unbounded bool // state: above the fraction; told about no maxmemory
}

func (m *memWarn) update(c store.Capacity) int {
	if c.MaxMemory <= 0 {
		if m.over {
			m.over = false
			return memBelow
		}
		if !m.unbounded {
			m.unbounded = true
			return memUnbounded
		}
		return memNone
	}
	over := float64(c.UsedMemory) > m.fraction*float64(c.MaxMemory)
	switch {
	case over && !m.over:
		m.over = true
		return memOver
	case !over && m.over:
		m.over = false
		return memBelow
	}
	return memNone
}
