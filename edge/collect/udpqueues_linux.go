package collect

import (
	"errors"
	"io/fs"

	"github.com/prometheus/procfs"
)

// UDPQueuesCollector reports node_exporter's node_udp_queues{ip,queue}:
// the summed rx_queue and tx_queue of every socket in /proc/net/udp (ip
// "v4") and /proc/net/udp6 ("v6", absent without IPv6), parsed by
// prometheus/procfs.
type UDPQueuesCollector struct {
	root string
	fs   procfs.FS
	err  error
}

// NewUDPQueuesCollector reads <root>/net/udp and <root>/net/udp6.
func NewUDPQueuesCollector(root string) *UDPQueuesCollector {
	f, err := procfs.NewFS(root)
	return &UDPQueuesCollector{root: root, fs: f, err: err}
}

func (c *UDPQueuesCollector) Name() string { return "udp_queues" }

func (c *UDPQueuesCollector) Collect(e *Emitter) error {
	if c.err != nil {
		return wrap(c.Name(), c.root, c.err)
	}
	found := false
	for _, v := range []struct {
		ip, file string
		read     func() (*procfs.NetUDPSummary, error)
	}{{"v4", "/net/udp", c.fs.NetUDPSummary}, {"v6", "/net/udp6", c.fs.NetUDP6Summary}} {
		s, err := v.read()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return wrap(c.Name(), c.root+v.file, err)
		}
		found = true
		e.Gauge("node_udp_queues", float64(s.RxQueueLength), "ip", v.ip, "queue", "rx")
		e.Gauge("node_udp_queues", float64(s.TxQueueLength), "ip", v.ip, "queue", "tx")
	}
	if !found {
		return ErrNoData
	}
	return nil
}
