package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrOverloaded is a request refused because the query slots (or the
// heavy slots) were taken and their queue was full or its wait ran out of
// limits.queue_timeout. The API answers 503 with a Retry-After header.
var ErrOverloaded = errors.New("query: too many concurrent queries")

// ErrSampleBudget is a query that loaded more samples from the store than
// limits.max_samples (422).
var ErrSampleBudget = errors.New("query: sample budget exceeded")

// admitter bounds the queries running at once, in two tiers:
//
//   - every request takes one of limits.max_concurrent slots before it
//     runs, waiting in a queue of at most limits.max_queued requests for at
//     most limits.queue_timeout;
//   - a query whose Selects have loaded more than limits.heavy_samples
//     samples gives its slot back and takes one of limits.heavy_slots
//     before loading more (queue of limits.heavy_queued, same timeout).
//
// So a flood of heavy queries holds at most heavy_slots heavy slots plus
// heavy_queued waiters, and light queries keep the ordinary slots. Memory
// is bounded by about (max_concurrent + heavy_queued) × heavy_samples
// plus heavy_slots × max_samples samples (docs/aggregator-tier.md, "Query
// limits"). Safe for concurrent use.
type admitter struct {
	slots, heavy        chan struct{}
	queued, heavyQueued atomic.Int64
	lim                 Limits
	c                   admitCounters
	memo                heavyMemo // queries heavy when they last ran (heavymemo.go)
}

type admitCounters struct {
	admitted, heavy, full, timedOut, heavyFull, heavyTimedOut, budget atomic.Uint64
	waitNs                                                            atomic.Int64
}

func newAdmitter(lim Limits) *admitter {
	return &admitter{slots: make(chan struct{}, lim.MaxConcurrent), heavy: make(chan struct{}, lim.HeavySlots), lim: lim}
}

// acquire takes a slot of sem, queueing behind at most max others for at
// most timeout (or ctx). It reports ErrOverloaded wrapped with why.
func acquire(ctx context.Context, sem chan struct{}, queued *atomic.Int64, max int, timeout time.Duration, what string) (full bool, err error) {
	select {
	case sem <- struct{}{}:
		return false, nil
	default:
	}
	if queued.Add(1) > int64(max) {
		queued.Add(-1)
		return true, fmt.Errorf("%w: all %d %s are taken and %d requests wait for one", ErrOverloaded, cap(sem), what, max)
	}
	defer queued.Add(-1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return false, nil
	case <-t.C:
		return false, fmt.Errorf("%w: waited %v (limits.queue_timeout) for one of %d %s", ErrOverloaded, timeout, cap(sem), what)
	case <-ctx.Done():
		return false, fmt.Errorf("%w: gave up waiting for one of %d %s: %w", ErrOverloaded, cap(sem), what, ctx.Err())
	}
}

// admitKey admits a request whose heavyMemo key is key: straight to a
// heavy slot when the same query was heavy last time, else as admit.
func (ad *admitter) admitKey(ctx context.Context, key string) (*ticket, error) {
	if !ad.memo.heavy(key) {
		t, err := ad.admit(ctx)
		if t != nil {
			t.key = key
		}
		return t, err
	}
	start := time.Now()
	ad.c.heavy.Add(1)
	full, err := acquire(ctx, ad.heavy, &ad.heavyQueued, ad.lim.HeavyQueued, ad.lim.QueueTimeout, "heavy query slots (limits.heavy_slots)")
	ad.c.waitNs.Add(int64(time.Since(start)))
	if err != nil {
		if full {
			ad.c.heavyFull.Add(1)
		} else {
			ad.c.heavyTimedOut.Add(1)
		}
		return nil, err
	}
	ad.c.admitted.Add(1)
	return &ticket{ad: ad, held: heldHeavy, key: key}, nil
}

// admit takes an ordinary slot for a request; release the ticket when it
// is done.
func (ad *admitter) admit(ctx context.Context) (*ticket, error) {
	start := time.Now()
	full, err := acquire(ctx, ad.slots, &ad.queued, ad.lim.MaxQueued, ad.lim.QueueTimeout, "query slots (limits.max_concurrent)")
	ad.c.waitNs.Add(int64(time.Since(start)))
	if err != nil {
		if full {
			ad.c.full.Add(1)
		} else {
			ad.c.timedOut.Add(1)
		}
		return nil, err
	}
	ad.c.admitted.Add(1)
	return &ticket{ad: ad, held: heldSlot}, nil
}

const (
	heldNone = iota
	heldSlot
	heldHeavy
)

// ticket is one admitted request: the slot it holds and the samples its
// Selects loaded.
type ticket struct {
	ad        *admitter
	mu        sync.Mutex
	held      int
	loaded    int64
	key       string // heavyMemo key, "" for none
	expensive bool   // matched more than limits.max_series (estimate.go)
}

// load accounts n more samples loaded by a Select of the query. Past
// limits.max_samples it fails with ErrSampleBudget; past
// limits.heavy_samples it moves the query to a heavy slot first, failing
// with ErrOverloaded when none frees up in time.
func (t *ticket) load(ctx context.Context, n int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loaded += int64(n)
	lim := t.ad.lim
	if t.loaded > int64(lim.MaxSamples) {
		t.ad.c.budget.Add(1)
		return fmt.Errorf("%w: the query loaded %d samples from the store, limits.max_samples is %d", ErrSampleBudget, t.loaded, lim.MaxSamples)
	}
	if t.loaded <= int64(lim.HeavySamples) {
		return nil
	}
	return t.toHeavyLocked(ctx)
}

// reserve moves the query to a heavy slot when the samples it loaded plus
// the n it is about to load exceed limits.heavy_samples.
func (t *ticket) reserve(ctx context.Context, n int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.loaded+int64(n) <= int64(t.ad.lim.HeavySamples) {
		return nil
	}
	return t.toHeavyLocked(ctx)
}

// toHeavyLocked trades the ordinary slot for a heavy one (once).
func (t *ticket) toHeavyLocked(ctx context.Context) error {
	lim := t.ad.lim
	if t.held != heldSlot {
		return nil
	}
	<-t.ad.slots // light queries may run while this one waits
	t.held = heldNone
	t.ad.c.heavy.Add(1)
	full, err := acquire(ctx, t.ad.heavy, &t.ad.heavyQueued, lim.HeavyQueued, lim.QueueTimeout, "heavy query slots (limits.heavy_slots)")
	if err != nil {
		if full {
			t.ad.c.heavyFull.Add(1)
		} else {
			t.ad.c.heavyTimedOut.Add(1)
		}
		return err
	}
	t.held = heldHeavy
	return nil
}

// release gives the ticket's slot back.
func (t *ticket) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.held {
	case heldSlot:
		<-t.ad.slots
	case heldHeavy:
		<-t.ad.heavy
	}
	if t.held != heldNone && t.key != "" {
		// By what it loaded: the estimate errs on the heavy side.
		t.ad.memo.record(t.key, t.expensive || t.loaded > int64(t.ad.lim.HeavySamples))
	}
	t.held = heldNone
}

type ticketKey struct{}

func withTicket(ctx context.Context, t *ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

// loaded accounts n samples to the query running in ctx (nothing when the
// querier runs outside the API, as in tests of the Queryable alone).
func loaded(ctx context.Context, n int) error {
	t, _ := ctx.Value(ticketKey{}).(*ticket)
	if t == nil {
		return nil
	}
	return t.load(ctx, n)
}

// retryAfter is the Retry-After header of a 503 overloaded: the queue
// timeout rounded up to whole seconds, at least 1.
func (ad *admitter) retryAfter() string {
	return strconv.Itoa(max(1, int(math.Ceil(ad.lim.QueueTimeout.Seconds()))))
}

// AdmitStats count the admission of query API requests.
type AdmitStats struct {
	Admitted uint64 // requests that got a query slot
	// Full and TimedOut count requests refused (503) because the queue
	// for a slot was full, or their wait ran out of limits.queue_timeout.
	Full, TimedOut uint64
	// Heavy counts queries moved to a heavy slot (limits.heavy_samples);
	// HeavyFull and HeavyTimedOut those refused while moving.
	Heavy, HeavyFull, HeavyTimedOut uint64
	// Budget counts queries that loaded more than limits.max_samples (422).
	Budget uint64
	// Running, Queued, HeavyRunning and HeavyQueued are the gauges now.
	Running, Queued, HeavyRunning, HeavyQueued int
	// WaitSeconds sums the time requests waited for a slot.
	WaitSeconds float64
}

// stats returns the admission counters and gauges.
func (ad *admitter) stats() AdmitStats {
	c := &ad.c
	return AdmitStats{Admitted: c.admitted.Load(), Full: c.full.Load(), TimedOut: c.timedOut.Load(),
		Heavy: c.heavy.Load(), HeavyFull: c.heavyFull.Load(), HeavyTimedOut: c.heavyTimedOut.Load(), Budget: c.budget.Load(),
		Running: len(ad.slots), Queued: int(ad.queued.Load()), HeavyRunning: len(ad.heavy), HeavyQueued: int(ad.heavyQueued.Load()),
		WaitSeconds: time.Duration(c.waitNs.Load()).Seconds()}
}
