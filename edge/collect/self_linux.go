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
type SelfCollector struct {
	root string
	fs   procfs.FS
	err  error
}

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
	if t, err := st.StartTime(); err == nil {
		e.Gauge("process_start_time_seconds", t)
	}
	if n, err := p.FileDescriptorsLen(); err == nil {
		e.Gauge("process_open_fds", float64(n))
	}
	if l, err := p.Limits(); err == nil {
		e.Gauge("process_max_fds", limit(l.OpenFiles))
		e.Gauge("process_virtual_memory_max_bytes", limit(l.AddressSpace))
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
