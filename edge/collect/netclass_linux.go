package collect

import (
	"errors"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// NetClassCollector reads /sys/class/net/<device>/ like node_exporter's
// netclass collector: node_network_up (operstate "up"),
// node_network_carrier, node_network_mtu_bytes, node_network_speed_bytes
// (speed in Mbit/s × 125000; -125000 when the driver says -1, unknown, as
// node_exporter's default; absent when the file cannot be read),
// node_network_transmit_queue_length, node_network_carrier_changes_total,
// node_network_info{address,broadcast,device,duplex,ifalias,operstate}
// and node_network_receive_nohandler_total (statistics/rx_nohandler), all
// labelled device. Devices matching the netdev exclusion are skipped. An
// attribute a device does not have (or cannot read: EINVAL on a link
// that is down) is left out, as node_exporter does.
type NetClassCollector struct {
	sysRoot string
	exclude *regexp.Regexp
	// The attribute files are read with raw openat/read/close
	// (readfile_linux.go) on NUL-terminated paths built once per device:
	// os.ReadFile's fstat, netpoller registration and allocations were
	// two thirds of the agent's CPU profile on a 4-interface host.
	paths nameCache[[]byte]
	buf   []byte
}

// NewNetClassCollector reads <sysRoot>/class/net.
func NewNetClassCollector(sysRoot string, exclude *regexp.Regexp) *NetClassCollector {
	return &NetClassCollector{sysRoot: sysRoot, exclude: exclude}
}

func (c *NetClassCollector) Name() string { return "netclass" }

func (c *NetClassCollector) Collect(e *Emitter) error {
	defer c.paths.endCycle()
	dir := c.sysRoot + "/class/net"
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoData
	}
	if err != nil {
		return wrap(c.Name(), dir, err)
	}
	for _, ent := range ents {
		dev := ent.Name()
		if matches(c.exclude, dev) {
			continue
		}
		p := dir + "/" + dev + "/"
		str := func(f string) (string, bool) {
			cp := c.paths.get([]byte(p+f), cpath)
			b, err := readAt(atFDCWD, cp, c.buf)
			c.buf = b
			return strings.TrimSpace(string(b)), err == nil
		}
		num := func(f string) (float64, bool) {
			s, ok := str(f)
			if !ok {
				return 0, false
			}
			v, err := strconv.ParseInt(s, 0, 64)
			return float64(v), err == nil
		}
		oper, _ := str("operstate")
		up := 0.0
		if oper == "up" {
			up = 1
		}
		e.Gauge("node_network_up", up, "device", dev)
		addr, _ := str("address")
		bcast, _ := str("broadcast")
		duplex, _ := str("duplex")
		alias, _ := str("ifalias")
		e.Gauge("node_network_info", 1, "address", addr, "broadcast", bcast, "device", dev, "duplex", duplex, "ifalias", alias, "operstate", oper)
		if v, ok := num("carrier"); ok {
			e.Gauge("node_network_carrier", v, "device", dev)
		}
		if v, ok := num("mtu"); ok {
			e.Gauge("node_network_mtu_bytes", v, "device", dev)
		}
		if v, ok := num("speed"); ok { // -1 (unknown) too, as node_exporter without --collector.netclass.ignore-invalid-speed
			e.Gauge("node_network_speed_bytes", v*125000, "device", dev)
		}
		if v, ok := num("tx_queue_len"); ok {
			e.Gauge("node_network_transmit_queue_length", v, "device", dev)
		}
		if v, ok := num("carrier_changes"); ok {
			e.Counter("node_network_carrier_changes_total", v, "device", dev)
		}
		if v, ok := num("statistics/rx_nohandler"); ok {
			e.Counter("node_network_receive_nohandler_total", v, "device", dev)
		}
	}
	return nil
}
