package collect

import "io"

// LoadavgCollector reads /proc/loadavg as node_load1, node_load5 and
// node_load15.
type LoadavgCollector struct {
	f *procFile
}

// NewLoadavgCollector reads <root>/loadavg.
func NewLoadavgCollector(root string) *LoadavgCollector {
	return &LoadavgCollector{f: newProcFile(root + "/loadavg")}
}

func (c *LoadavgCollector) Name() string { return "loadavg" }

func (c *LoadavgCollector) Collect(e *Emitter) error {
	r, err := c.f.reader()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	l, err := parseLoadavg(r)
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	e.Gauge("node_load1", l[0])
	e.Gauge("node_load5", l[1])
	e.Gauge("node_load15", l[2])
	return nil
}

// parseLoadavg returns the 1, 5 and 15 minute load averages from
// "1.25 0.75 0.50 2/345 6789".
func parseLoadavg(r io.Reader) (l [3]float64, err error) {
	b, err := readAll(r)
	if err != nil {
		return l, err
	}
	line, _ := nextLine(b)
	rest := line
	for i := range l {
		var f []byte
		if f, rest = nextField(rest); len(f) == 0 {
			return l, malformed(1, line)
		}
		if l[i], err = parseNum(f); err != nil {
			return l, numError(1, []byte("load"), f)
		}
	}
	return l, nil
}
