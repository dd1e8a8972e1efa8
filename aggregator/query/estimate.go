package query

import (
	"context"
	"sync"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// Estimating a Select's samples before loading them: a query that will be
// heavy takes its heavy slot (admit.go) before it reads a byte from Redis.
// Moving it only after the load (as before) let max_concurrent heavy
// queries read from the single-threaded Redis at once, and a normal
// query's reads queued behind theirs (query flood: p99 1.9 s).

// defaultWidthMs is the window width assumed for an agent none of whose
// points this aggregator has loaded yet: the shortest window an agent
// ships (1 s), so the estimate errs on the heavy side.
const defaultWidthMs = 1000

// widths remembers each agent's window width (ms) as seen in loaded
// points. One entry per agent queried (a string and an int64): bounded by
// the agents stored. Safe for concurrent use.
type widths struct{ m sync.Map }

func (w *widths) learn(agent string, width int64) {
	if width <= 0 {
		return
	}
	if old, ok := w.m.Load(agent); !ok || old.(int64) != width {
		w.m.Store(agent, width)
	}
}

func (w *widths) of(agent string) int64 {
	if v, ok := w.m.Load(agent); ok {
		return v.(int64)
	}
	return defaultWidthMs
}

// estimateSamples is how many points refs hold over [mint, maxt]: one per
// window of each series (hourly: one per hour).
func (w *widths) estimateSamples(refs []store.SeriesRef, mint, maxt int64, hourly bool) int {
	span := max(maxt-mint, 0)
	n := 0
	for _, r := range refs {
		width := int64(store.HourMs)
		if !hourly {
			width = w.of(r.Agent)
		}
		n += int(span/width) + 1
	}
	return n
}

// reserve tells the query running in ctx that a Select is about to load
// about n samples: past limits.heavy_samples it moves to a heavy slot
// first (nothing when the querier runs outside the API).
func reserve(ctx context.Context, n int) error {
	t, _ := ctx.Value(ticketKey{}).(*ticket)
	if t == nil {
		return nil
	}
	return t.reserve(ctx, n)
}

// expensive marks the query running in ctx as heavy for the heavyMemo
// whatever it loaded: it read the index of more series than
// limits.max_series (and failed). A flood of such queries then waits for
// the heavy slots instead of reading the whole index on ordinary ones.
func expensive(ctx context.Context) {
	if t, _ := ctx.Value(ticketKey{}).(*ticket); t != nil {
		t.mu.Lock()
		t.expensive = true
		t.mu.Unlock()
	}
}
