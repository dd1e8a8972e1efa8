package collect

import "github.com/edgepulse/edgepulse/edge/queue"

// Two sources cost far more kernel time per cycle than what they report
// is worth at 1 s (profile of the agent's cycle on a host with ~140
// processes, edge/agent BenchmarkCycle): processes (38 % of a cycle: one
// openat/read/close of /proc/[pid]/stat per process, and the kernel
// builds each stat line) and netclass (20 %: about 15 sysfs attributes
// per interface, mostly constant — mtu, speed, address, operstate).
// node_exporter disables the processes collector by default; the agent
// keeps it but reads it, like netclass, every few cycles.
//
// Between reads the wrapper reports the values of the last read again,
// stamped with the current cycle, so every series keeps one sample per
// cycle (windows count, min/max/avg and staleness behave as before); the
// values are at most n-1 cycles old. The source's
// node_scrape_collector_duration_seconds is the mean over all cycles,
// the cheap repeats included. A series the source stops reporting
// (a process state gone, an interface removed) disappears at its next read.
const (
	processesEvery = 5
	netClassEvery  = 10
)

// everyN runs c on the first cycle and then every n-th cycle, and repeats
// the samples of its last run on the cycles in between. A run's error is
// returned for the cycles that repeat it (its samples are what it emitted
// before failing). Not safe for concurrent use; a Set runs its collectors
// one at a time.
type everyN struct {
	c    Collector
	n, i int
	last []replay
	err  error
}

// replay is one repeated sample: its series (to keep it from being swept)
// and value.
type replay struct {
	d *Desc
	v float64
}

// Every wraps c so that it is read only every n cycles (n ≤ 1: every
// cycle, c itself) and its last values are reported in between.
func Every(c Collector, n int) Collector {
	if n <= 1 {
		return c
	}
	return &everyN{c: c, n: n}
}

func (w *everyN) Name() string { return w.c.Name() }

func (w *everyN) Collect(e *Emitter) error {
	defer func() { w.i = (w.i + 1) % w.n }()
	if w.i == 0 {
		start := len(e.samples)
		w.err = w.c.Collect(e)
		w.last = w.last[:0]
		for _, s := range e.samples[start:] {
			if d := e.reg.Desc(s.Series); d != nil {
				w.last = append(w.last, replay{d: d, v: s.Value})
			}
		}
		return w.err
	}
	for _, r := range w.last {
		r.d.lastSeen.Store(e.ts)
		e.samples = append(e.samples, queue.Sample{TS: e.ts, Value: r.v, Series: r.d.ID})
	}
	return w.err
}
