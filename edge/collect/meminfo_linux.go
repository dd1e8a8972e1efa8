package collect

import (
	"io"
)

// MeminfoCollector reads /proc/meminfo as node_memory_<Field>_bytes, every
// field the kernel reports, like node_exporter.
type MeminfoCollector struct {
	f     *procFile
	names nameCache[string] // field → metric name
}

// NewMeminfoCollector reads <root>/meminfo.
func NewMeminfoCollector(root string) *MeminfoCollector {
	return &MeminfoCollector{f: newProcFile(root + "/meminfo")}
}

func (c *MeminfoCollector) Name() string { return "meminfo" }

func (c *MeminfoCollector) Collect(e *Emitter) error {
	r, err := c.f.reader()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	err = parseMeminfo(r, func(field []byte, v float64) {
		e.Gauge(c.names.get(field, meminfoMetric), v)
	})
	c.names.endCycle()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	return nil
}

// meminfoMetric maps a meminfo field to node_exporter's metric name:
// "Active(anon)" becomes node_memory_Active_anon_bytes. The HugePages_*
// fields are page counts, not sizes: node_exporter names them without the
// _bytes suffix (node_memory_HugePages_Total), and so does this.
func meminfoMetric(field string) string {
	b := []byte("node_memory_")
	for i := 0; i < len(field); i++ {
		switch ch := field[i]; ch {
		case '(':
			b = append(b, '_')
		case ')':
		default:
			b = append(b, ch)
		}
	}
	if len(field) > len("HugePages_") && field[:len("HugePages_")] == "HugePages_" {
		return string(b)
	}
	return string(append(b, "_bytes"...))
}

// parseMeminfo calls fn for every "Field: value [kB]" line, with the value
// in bytes (kB values are multiplied by 1024, as node_exporter does).
func parseMeminfo(r io.Reader, fn func(field []byte, v float64)) error {
	return eachLine(r, func(n int, line, key, rest []byte) error {
		val, rest := nextField(rest)
		unit, rest := nextField(rest)
		if extra, _ := nextField(rest); len(val) == 0 || len(extra) > 0 || key[len(key)-1] != ':' {
			return malformed(n, line)
		}
		key = key[:len(key)-1]
		v, err := parseNum(val)
		if err != nil {
			return numError(n, key, val)
		}
		if len(unit) > 0 {
			if string(unit) != "kB" {
				return &parseError{line: n, msg: "unknown unit " + quote(unit)}
			}
			v *= 1024
		}
		fn(key, v)
		return nil
	})
}
