package collect

import (
	"errors"
	"io/fs"

	"github.com/prometheus/procfs"
)

// ArpCollector reports node_exporter's node_arp_entries{device}: the
// entries of /proc/net/arp per device (parsed by prometheus/procfs).
type ArpCollector struct {
	root string
	fs   procfs.FS
	err  error
}

// NewArpCollector reads <root>/net/arp.
func NewArpCollector(root string) *ArpCollector {
	f, err := procfs.NewFS(root)
	return &ArpCollector{root: root, fs: f, err: err}
}

func (c *ArpCollector) Name() string { return "arp" }

func (c *ArpCollector) Collect(e *Emitter) error {
	if c.err != nil {
		return wrap(c.Name(), c.root, c.err)
	}
	entries, err := c.fs.GatherARPEntries()
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoData
	}
	if err != nil {
		return wrap(c.Name(), c.root+"/net/arp", err)
	}
	n := map[string]int{}
	for _, a := range entries {
		n[a.Device]++
	}
	for dev, k := range n {
		e.Gauge("node_arp_entries", float64(k), "device", dev)
	}
	return nil
}
