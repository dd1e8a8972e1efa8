package aggregator

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

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
func (a *Aggregator) probeEvery() time.Duration {
	return min(max(a.cfg.RedisUnreadyAfter/4, 250*time.Millisecond), 5*time.Second)
}

// writeStale is how old the last failed write may be for its run to
// still count: without any write attempted since (no traffic), readiness
// rests on the probe alone. Failed batches are redelivered every few
// seconds, so a real run of failures keeps it fresh.
func (a *Aggregator) writeStale() time.Duration {
	return max(2*a.cfg.RedisUnreadyAfter, 30*time.Second)
}

// probeLoop probes Redis every probeEvery until ctx is done.
func (a *Aggregator) probeLoop(ctx context.Context) {
	every := a.probeEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, max(every, 2*time.Second))
		lost, err := a.store.Probe(pctx, a.cfg.Name)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case lost:
			a.log.Warn("redis lost writes since the last probe (restarted empty or from an older snapshot, or a failover); writing the index again")
			a.probe.ok(time.Now())
		case err != nil:
			if d, _ := a.probe.failing(time.Now(), 0); d == 0 {
				a.log.Warn("redis probe failed", "reason", store.ErrorReason(err), "err", err)
			}
			a.probe.fail(err, time.Now())
		default:
			if d, _ := a.probe.failing(time.Now(), 0); d > 0 {
				a.log.Info("redis probe ok again", "failed_for", d.Round(time.Millisecond))
			}
			a.probe.ok(time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// live reports whether the process should keep running: its embedded hub
// runs with JetStream and its NATS connection is not closed for good (a
// connection reconnecting to an external NATS recovers on its own).
func (a *Aggregator) live() error {
	if a.ns != nil && (!a.ns.Running() || !a.ns.JetStreamEnabled()) {
		return fmt.Errorf("nats: embedded hub not running with JetStream")
	}
	if a.nc.IsClosed() {
		return fmt.Errorf("nats: connection closed")
	}
	return nil
}

// ready returns why this member should take no traffic, or nil.
func (a *Aggregator) ready(now time.Time) error {
	if err := a.live(); err != nil {
		return err
	}
	if st := a.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("nats: %s", st)
	}
	after := a.cfg.RedisUnreadyAfter
	if d, err := a.writes.failing(now, a.writeStale()); d > after {
		return fmt.Errorf("redis: writes failing for %s: %v", d.Round(time.Second), err)
	}
	if d, err := a.probe.failing(now, 0); d > after {
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
func (a *Aggregator) capacityLoop(ctx context.Context) {
	t := time.NewTicker(capacityEvery)
	defer t.Stop()
	for {
		a.refreshCapacity(ctx)
		if time.Since(a.capacity.sweptAt) >= indexSweepEvery {
			a.capacity.sweptAt = time.Now()
			a.sweepIndex(ctx)
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
func (a *Aggregator) sweepIndex(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	n, err := a.store.Sweep(sctx, time.Now())
	cancel()
	a.capacity.swept.Add(uint64(n))
	if err != nil && ctx.Err() == nil {
		a.capacity.sweepErrs.Add(1)
		a.log.Warn("sweeping the index of expired series; the next sweep continues", "swept", n, "err", err)
		return
	}
	if n > 0 {
		a.log.Info("swept the index of series past both retentions", "series", n)
	}
}

// refreshCapacity computes the capacity and checks the memory warning;
// on failure it keeps the last value and counts the error.
func (a *Aggregator) refreshCapacity(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := a.store.Capacity(cctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			a.capacity.errs.Add(1)
			a.log.Warn("computing the store's capacity; /metrics keeps the last value", "err", err)
		}
		return
	}
	a.capacity.mu.Lock()
	a.capacity.c, a.capacity.at = c, time.Now()
	ev := a.capacity.warn.update(c)
	a.capacity.mu.Unlock()
	switch ev {
	case memUnbounded:
		a.log.Warn("redis has no maxmemory: its memory is unbounded (set maxmemory and maxmemory-policy noeviction; docs/deploy.md)",
			"used_memory", c.UsedMemory, "masters", c.Masters)
	case memOver:
		a.log.Warn("redis memory above the warning fraction of maxmemory", "used_memory", c.UsedMemory, "maxmemory", c.MaxMemory,
			"fraction", a.capacity.warn.fraction, "series", c.Series, "stored_windows", c.StoredWindows, "bytes_per_window", c.BytesPerWindow)
	case memBelow:
		a.log.Info("redis memory back below the warning fraction of maxmemory", "used_memory", c.UsedMemory, "maxmemory", c.MaxMemory,
			"fraction", a.capacity.warn.fraction)
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
