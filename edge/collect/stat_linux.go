package collect

import (
	"strconv"

	"github.com/prometheus/procfs"
)

// StatCollector reads /proc/stat: per-cpu time by mode, as node_exporter's
// node_cpu_seconds_total.
type StatCollector struct {
	fs   procfs.FS
	path string
	cpus []string // cached "0", "1", … label values
}

// NewStatCollector reads <root>/stat.
func NewStatCollector(fs procfs.FS, root string) *StatCollector {
	return &StatCollector{fs: fs, path: root + "/stat"}
}

func (c *StatCollector) Name() string { return "stat" }

func (c *StatCollector) Collect(e *Emitter) error {
	st, err := c.fs.Stat()
	if err != nil {
		return wrap(c.Name(), c.path, err)
	}
	for n, t := range st.CPU {
		cpu := c.cpuLabel(int(n))
		e.Counter("node_cpu_seconds_total", t.User, "cpu", cpu, "mode", "user")
		e.Counter("node_cpu_seconds_total", t.Nice, "cpu", cpu, "mode", "nice")
		e.Counter("node_cpu_seconds_total", t.System, "cpu", cpu, "mode", "system")
		e.Counter("node_cpu_seconds_total", t.Idle, "cpu", cpu, "mode", "idle")
		e.Counter("node_cpu_seconds_total", t.Iowait, "cpu", cpu, "mode", "iowait")
		e.Counter("node_cpu_seconds_total", t.IRQ, "cpu", cpu, "mode", "irq")
		e.Counter("node_cpu_seconds_total", t.SoftIRQ, "cpu", cpu, "mode", "softirq")
		e.Counter("node_cpu_seconds_total", t.Steal, "cpu", cpu, "mode", "steal")
	}
	return nil
}

func (c *StatCollector) cpuLabel(n int) string {
	for len(c.cpus) <= n {
		c.cpus = append(c.cpus, strconv.Itoa(len(c.cpus)))
	}
	return c.cpus[n]
}
