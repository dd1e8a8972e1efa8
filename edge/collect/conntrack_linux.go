package collect

import (
	"errors"
	"io/fs"
)

// ConntrackCollector reports node_exporter's node_nf_conntrack_entries
// and node_nf_conntrack_entries_limit from
// /proc/sys/net/netfilter/nf_conntrack_{count,max}. Without the
// conntrack module the files do not exist and neither do the series.
type ConntrackCollector struct{ gaugeFiles }

// NewConntrackCollector reads <root>/sys/net/netfilter.
func NewConntrackCollector(root string) *ConntrackCollector {
	return &ConntrackCollector{gaugeFiles{name: "conntrack", files: []gaugeFile{
		{newProcFile(root + "/sys/net/netfilter/nf_conntrack_count"), "node_nf_conntrack_entries"},
		{newProcFile(root + "/sys/net/netfilter/nf_conntrack_max"), "node_nf_conntrack_entries_limit"},
	}}}
}

// gaugeFiles reports gauges read each from a file holding one number; a
// missing file means the source is absent here (ErrNoData).
type gaugeFiles struct {
	name  string
	files []gaugeFile
}

type gaugeFile struct {
	f      *procFile
	metric string
}

func (c *gaugeFiles) Name() string { return c.name }

func (c *gaugeFiles) Collect(e *Emitter) error {
	for _, f := range c.files {
		v, err := readNumber(f.f)
		if errors.Is(err, fs.ErrNotExist) {
			return ErrNoData
		}
		if err != nil {
			return wrap(c.name, f.f.path, err)
		}
		e.Gauge(f.metric, v)
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
