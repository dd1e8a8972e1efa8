package agent

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The agent's live heap is small (about 13 MB for 600 series) but the Go
// runtime's default (GOGC=100) lets the heap grow to twice the live heap
// before collecting: the resident size settled around 45 MB. The agent
// instead lets the heap grow by a fixed headroom (Config.HeapHeadroom,
// default 1 MiB) above the live heap: GOGC = 100 × headroom / live,
// between 10 and 100, recomputed every 15 s. At ~0.3 MB/s of allocation
// that is one collection every ~6 s, ~1 ms of CPU each. Once a minute it
// also returns the free heap to the OS (debug.FreeOSMemory: one more
// collection), which the runtime's background scavenger does only slowly.
//
// A soft memory limit (GOMEMLIMIT) was tried first and rejected: it counts
// all of the runtime's memory (stacks, metadata, unreturned pages: ~8 MB
// here), so a limit a few MB above the live heap made the runtime collect
// ~4 times a second (9.5 % of a core), and a limit far enough above it
// saves nothing.

// DefaultHeapHeadroom is the default growth allowed above the live heap.
const DefaultHeapHeadroom = 1 << 20

// heapHeadroom returns the configured headroom, or 0 when off (negative,
// or GOGC set in the environment, which then rules).
func (c Config) heapHeadroom() int64 {
	if c.HeapHeadroom < 0 || os.Getenv("GOGC") != "" {
		return 0
	}
	if c.HeapHeadroom == 0 {
		return DefaultHeapHeadroom
	}
	return c.HeapHeadroom
}

// gcPercent is GOGC for a live heap and a headroom: 100 × headroom / live
// within [10, 100]. (A floor of 25 made a 1 MiB headroom 1.75 MiB for the
// agent's ~7 MB live heap.)
func gcPercent(live, headroom int64) int {
	if live <= 0 {
		return 100
	}
	return int(min(100, max(10, 100*headroom/live)))
}

// gcPaceLoop keeps GOGC at gcPercent(live heap, headroom) until ctx is
// done.
func (a *Agent) gcPaceLoop(ctx context.Context) {
	headroom := a.cfg.heapHeadroom()
	if headroom == 0 {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		pct := 100
		if sample[0].Value.Kind() == metrics.KindUint64 {
			pct = gcPercent(int64(sample[0].Value.Uint64()), headroom)
		}
		debug.SetGCPercent(pct)
		a.gcPercent.Store(int64(pct))
	}
	set()
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set()
			if i%4 == 0 {
				debug.FreeOSMemory()
			}
		}
	}
}
