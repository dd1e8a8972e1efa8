package collect

import (
	"bytes"
	"io"
	"regexp"
)

// netDevMetrics are node_exporter's names for the 16 /proc/net/dev
// columns, in order.
var netDevMetrics = [16]string{
	"node_network_receive_bytes_total",
	"node_network_receive_packets_total",
	"node_network_receive_errs_total",
	"node_network_receive_drop_total",
	"node_network_receive_fifo_total",
	"node_network_receive_frame_total",
	"node_network_receive_compressed_total",
	"node_network_receive_multicast_total",
	"node_network_transmit_bytes_total",
	"node_network_transmit_packets_total",
	"node_network_transmit_errs_total",
	"node_network_transmit_drop_total",
	"node_network_transmit_fifo_total",
	"node_network_transmit_colls_total",
	"node_network_transmit_carrier_total",
	"node_network_transmit_compressed_total",
}

// NetDevCollector reads /proc/net/dev as node_exporter's
// node_network_{receive,transmit}_*_total{device}, skipping interfaces
// whose name matches the exclude regexp (none by default: lo is reported,
// as node_exporter does).
type NetDevCollector struct {
	f       *procFile
	exclude *regexp.Regexp
	devs    nameCache[netDev]
}

type netDev struct {
	device string
	skip   bool
}

// NewNetDevCollector reads <root>/net/dev, skipping interfaces whose name
// matches exclude (nil skips none).
func NewNetDevCollector(root string, exclude *regexp.Regexp) *NetDevCollector {
	return &NetDevCollector{f: newProcFile(root + "/net/dev"), exclude: exclude}
}

func (c *NetDevCollector) Name() string { return "netdev" }

func (c *NetDevCollector) Collect(e *Emitter) error {
	r, err := c.f.reader()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	err = parseNetDev(r, func(dev []byte, v [16]float64) {
		d := c.devs.get(dev, c.device)
		if d.skip {
			return
		}
		for i, name := range netDevMetrics {
			e.Counter(name, v[i], "device", d.device)
		}
	})
	c.devs.endCycle()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	return nil
}

func (c *NetDevCollector) device(name string) netDev {
	return netDev{device: name, skip: matches(c.exclude, name)}
}

// parseNetDev calls fn for every interface line of /proc/net/dev
// ("  eth0: 198516244 11429 0 0 0 0 0 0 1022844 9509 0 0 0 0 0 0"),
// after the two header lines.
func parseNetDev(r io.Reader, fn func(dev []byte, v [16]float64)) error {
	b, err := readAll(r)
	if err != nil {
		return err
	}
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		if n <= 2 && bytes.IndexByte(line, '|') >= 0 {
			continue // "Inter-|   Receive …" and " face |bytes …"
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			return malformed(n, line)
		}
		dev := bytes.TrimSpace(line[:colon])
		rest := line[colon+1:]
		var v [16]float64
		for i := range v {
			var f []byte
			if f, rest = nextField(rest); len(f) == 0 {
				return malformed(n, line)
			}
			if v[i], err = parseNum(f); err != nil {
				return numError(n, dev, f)
			}
		}
		fn(dev, v)
	}
	return nil
}
