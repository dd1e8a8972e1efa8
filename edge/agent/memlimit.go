package agent

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The agent's heap is small (about 13 MB live for 600 series) but the Go
// runtime's default lets it grow to twice the live heap before collecting
// (GOGC=100), and returns freed pages slowly: the resident size settled
// around 45 MB. A soft memory limit makes the runtime collect and return
// memory earlier, for a little CPU (one collection costs ~2 ms of CPU at
// this heap size). A limit below what the agent needs would make the
// runtime collect continuously (it caps that at half a core), so the
// limit follows the live heap: it is never below live + memLimitHeadroom.

// DefaultMemoryLimit is the default soft limit on the Go runtime's memory.
const DefaultMemoryLimit = 20 << 20

// memLimitHeadroom is the least room the limit leaves above the live heap.
const memLimitHeadroom = 8 << 20

// memoryLimit returns the configured limit: Config.MemoryLimit, the
// default when zero, or 0 when off (negative, or GOMEMLIMIT set in the
// environment, which then rules).
func (c Config) memoryLimit() int64 {
	if c.MemoryLimit < 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	if c.MemoryLimit == 0 {
		return DefaultMemoryLimit
	}
	return c.MemoryLimit
}

// memLimitLoop keeps the runtime's soft limit at max(limit, live heap +
// headroom) until ctx is done, checking every 15 s.
func (a *Agent) memLimitLoop(ctx context.Context) {
	base := a.cfg.memoryLimit()
	if base == 0 {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		lim := base
		if sample[0].Value.Kind() == metrics.KindUint64 {
			lim = max(base, int64(sample[0].Value.Uint64())+memLimitHeadroom)
		}
		debug.SetMemoryLimit(lim)
		a.memLimit.Store(lim)
	}
	set()
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set()
		}
	}
}
