package collect

import (
	"errors"
	"io/fs"
	"math"

	"github.com/prometheus/procfs"
)

// SelfCollector reports the agent's own process_* metrics, named like
// client_golang's process collector that node_exporter exposes:
// process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_virtual_memory_bytes, process_virtual_memory_max_bytes (-1 for
// unlimited, as client_golang), process_resident_memory_bytes and
// process_start_time_seconds, from <root>/self (parsed by
// prometheus/procfs).
//
// The start time is read once (procfs computes it from /proc/stat's boot
// time, a read of the whole file) and the limits once every
// selfLimitsEvery cycles: both rarely or never change, and they were two
// thirds of this collector's cost.
type SelfCollector struct {
	root  string
	fs    procfs.FS
	err   error
	start float64 // process_start_time_seconds once read, else 0
	// limits are the last read limits (ok once read); cycle counts
	// collections since.
	limits      procfs.ProcLimits
	limitsOK    bool
	limitsCycle int
}

// selfLimitsEvery is how many cycles the agent's limits are reused.
const selfLimitsEvery = 60

// NewSelfCollector reads <root>/self.
func NewSelfCollector(root string) *SelfCollector {
	f, err := procfs.NewFS(root)
	return &SelfCollector{root: root, fs: f, err: err}
}

func (c *SelfCollector) Name() string { return "process" }

func (c *SelfCollector) Collect(e *Emitter) error {
	if c.err != nil {
		return wrap(c.Name(), c.root, c.err)
	}
	p, err := c.fs.Self()
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoData
	}
	if err != nil {
		return wrap(c.Name(), c.root+"/self", err)
	}
	st, err := p.Stat()
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoData
	}
	if err != nil {
		return wrap(c.Name(), c.root+"/self/stat", err)
	}
	e.Counter("process_cpu_seconds_total", st.CPUTime())
	e.Gauge("process_virtual_memory_bytes", float64(st.VirtualMemory()))
	e.Gauge("process_resident_memory_bytes", float64(st.ResidentMemory()))
	if c.start == 0 {
		if t, err := st.StartTime(); err == nil {
			c.start = t
		}
	}
	if c.start != 0 {
		e.Gauge("process_start_time_seconds", c.start)
	}
	if n, err := p.FileDescriptorsLen(); err == nil {
		e.Gauge("process_open_fds", float64(n))
	}
	if c.limitsCycle%selfLimitsEvery == 0 {
		l, err := p.Limits()
		c.limits, c.limitsOK = l, err == nil
	}
	c.limitsCycle++
	if c.limitsOK {
		e.Gauge("process_max_fds", limit(c.limits.OpenFiles))
		e.Gauge("process_virtual_memory_max_bytes", limit(c.limits.AddressSpace))
	}
	return nil
}

// limit maps procfs's "unlimited" (all ones) to -1 as client_golang does.
func limit(v uint64) float64 {
	if v == math.MaxUint64 {
		return -1
	}
	return float64(v)
}
