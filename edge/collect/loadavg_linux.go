package collect

import "github.com/prometheus/procfs"

// LoadavgCollector reads /proc/loadavg as node_load1, node_load5 and
// node_load15.
type LoadavgCollector struct {
	fs   procfs.FS
	path string
}

// NewLoadavgCollector reads <root>/loadavg.
func NewLoadavgCollector(fs procfs.FS, root string) *LoadavgCollector {
	return &LoadavgCollector{fs: fs, path: root + "/loadavg"}
}

func (c *LoadavgCollector) Name() string { return "loadavg" }

func (c *LoadavgCollector) Collect(e *Emitter) error {
	l, err := c.fs.LoadAvg()
	if err != nil {
		return wrap(c.Name(), c.path, err)
	}
	e.Gauge("node_load1", l.Load1)
	e.Gauge("node_load5", l.Load5)
	e.Gauge("node_load15", l.Load15)
	return nil
}
