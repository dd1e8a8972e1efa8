package collect

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// SockstatCollector reads /proc/net/sockstat and /proc/net/sockstat6 as
// node_exporter's node_sockstat_sockets_used and
// node_sockstat_<PROTO>_<field> (TCP_inuse, TCP_tw, TCP_alloc, TCP_mem, …),
// with node_sockstat_<PROTO>_mem_bytes for the page counts in mem.
// sockstat6 is optional (no IPv6).
type SockstatCollector struct {
	v4, v6   *procFile
	pageSize float64
	names    nameCache[sockField]
	key      []byte
}

type sockField struct {
	name, bytesName string // bytesName: the _mem_bytes series, for mem fields
}

// NewSockstatCollector reads <root>/net/sockstat and <root>/net/sockstat6.
func NewSockstatCollector(root string) *SockstatCollector {
	return &SockstatCollector{
		v4:       newProcFile(root + "/net/sockstat"),
		v6:       newProcFile(root + "/net/sockstat6"),
		pageSize: float64(os.Getpagesize()),
	}
}

func (c *SockstatCollector) Name() string { return "sockstat" }

func (c *SockstatCollector) Collect(e *Emitter) error {
	defer c.names.endCycle()
	emit := func(proto, field []byte, v float64) {
		c.key = append(append(append(c.key[:0], proto...), '_'), field...)
		f := c.names.get(c.key, sockstatField)
		e.Gauge(f.name, v)
		if f.bytesName != "" {
			e.Gauge(f.bytesName, v*c.pageSize)
		}
	}
	r, err := c.v4.reader()
	if err != nil {
		return wrap(c.Name(), c.v4.path, err)
	}
	if err := parseSockstat(r, emit); err != nil {
		return wrap(c.Name(), c.v4.path, err)
	}
	r, err = c.v6.reader()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return wrap(c.Name(), c.v6.path, err)
	}
	if err := parseSockstat(r, emit); err != nil {
		return wrap(c.Name(), c.v6.path, err)
	}
	return nil
}

func sockstatField(key string) sockField {
	f := sockField{name: "node_sockstat_" + key}
	if len(key) > 4 && key[len(key)-4:] == "_mem" {
		f.bytesName = f.name + "_bytes"
	}
	return f
}

// parseSockstat calls fn for every name/value pair of /proc/net/sockstat
// or sockstat6:
//
//	sockets: used 13
//	TCP: inuse 1 orphan 0 tw 9 alloc 1 mem 49
func parseSockstat(r io.Reader, fn func(proto, field []byte, v float64)) error {
	return eachLine(r, func(n int, line, proto, rest []byte) error {
		if len(proto) < 2 || proto[len(proto)-1] != ':' {
			return malformed(n, line)
		}
		proto = proto[:len(proto)-1]
		for {
			var name, val []byte
			if name, rest = nextField(rest); len(name) == 0 {
				break
			}
			if val, rest = nextField(rest); len(val) == 0 {
				return malformed(n, line)
			}
			v, err := parseNum(val)
			if err != nil {
				return numError(n, name, val)
			}
			fn(proto, name, v)
		}
		return nil
	})
}
