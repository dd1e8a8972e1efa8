package collect

import (
	"errors"
	"io/fs"
	"strconv"

	"github.com/prometheus/procfs"
)

// SoftnetCollector reports node_exporter's per-cpu
// node_softnet_{processed,dropped,times_squeezed}_total{cpu} from
// /proc/net/softnet_stat (parsed by prometheus/procfs).
type SoftnetCollector struct {
	root string
	fs   procfs.FS
	err  error
}

// NewSoftnetCollector reads <root>/net/softnet_stat.
func NewSoftnetCollector(root string) *SoftnetCollector {
	f, err := procfs.NewFS(root)
	return &SoftnetCollector{root: root, fs: f, err: err}
}

func (c *SoftnetCollector) Name() string { return "softnet" }

func (c *SoftnetCollector) Collect(e *Emitter) error {
	if c.err != nil {
		return wrap(c.Name(), c.root, c.err)
	}
	stats, err := c.fs.NetSoftnetStat()
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoData
	}
	if err != nil {
		return wrap(c.Name(), c.root+"/net/softnet_stat", err)
	}
	for _, s := range stats {
		cpu := strconv.Itoa(int(s.Index))
		e.Counter("node_softnet_processed_total", float64(s.Processed), "cpu", cpu)
		e.Counter("node_softnet_dropped_total", float64(s.Dropped), "cpu", cpu)
		e.Counter("node_softnet_times_squeezed_total", float64(s.TimeSqueezed), "cpu", cpu)
	}
	return nil
}
