package collect

import (
	"errors"
	"io/fs"
)

// ConntrackCollector reports node_exporter's node_nf_conntrack_entries
// and node_nf_conntrack_entries_limit from
// /proc/sys/net/netfilter/nf_conntrack_{count,max}. Without the
// conntrack module the files do not exist and neither do the series.
type ConntrackCollector struct {
	count, max *procFile
}

// NewConntrackCollector reads <root>/sys/net/netfilter.
func NewConntrackCollector(root string) *ConntrackCollector {
	return &ConntrackCollector{
		count: newProcFile(root + "/sys/net/netfilter/nf_conntrack_count"),
		max:   newProcFile(root + "/sys/net/netfilter/nf_conntrack_max"),
	}
}

func (c *ConntrackCollector) Name() string { return "conntrack" }

func (c *ConntrackCollector) Collect(e *Emitter) error {
	for _, f := range []struct {
		f    *procFile
		name string
	}{{c.count, "node_nf_conntrack_entries"}, {c.max, "node_nf_conntrack_entries_limit"}} {
		v, err := readNumber(f.f)
		if errors.Is(err, fs.ErrNotExist) {
			return ErrNoData
		}
		if err != nil {
			return wrap(c.Name(), f.f.path, err)
		}
		e.Gauge(f.name, v)
	}
	return nil
}

// readNumber reads a file holding one number.
func readNumber(f *procFile) (float64, error) {
	b, err := f.bytes()
	if err != nil {
		return 0, err
	}
	line, _ := nextLine(b)
	v, rest := nextField(line)
	if extra, _ := nextField(rest); len(v) == 0 || len(extra) > 0 {
		return 0, malformed(1, line)
	}
	n, err := parseNum(v)
	if err != nil {
		return 0, numError(1, []byte("value"), v)
	}
	return n, nil
}
