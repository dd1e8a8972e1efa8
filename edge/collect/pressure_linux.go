package collect

import (
	"errors"
	"io"
	"io/fs"
	"syscall"
)

// PressureCollector reads pressure stall information (/proc/pressure/cpu,
// memory, io and irq) as node_exporter does:
// node_pressure_<resource>_waiting_seconds_total from the "some" line and
// node_pressure_<resource>_stalled_seconds_total from the "full" line.
// Kernels without PSI (before 4.20, or booted with psi=0) yield ErrNoData.
type PressureCollector struct {
	res [4]pressureSource
}

type pressureSource struct {
	f                *procFile
	waiting, stalled string // metric names; "" when node_exporter has none
}

// NewPressureCollector reads <root>/pressure/{cpu,memory,io,irq}.
func NewPressureCollector(root string) *PressureCollector {
	src := func(res string, waiting bool) pressureSource {
		s := pressureSource{f: newProcFile(root + "/pressure/" + res), stalled: "node_pressure_" + res + "_stalled_seconds_total"}
		if waiting {
			s.waiting = "node_pressure_" + res + "_waiting_seconds_total"
		}
		return s
	}
	return &PressureCollector{res: [4]pressureSource{src("cpu", true), src("memory", true), src("io", true), src("irq", false)}}
}

func (c *PressureCollector) Name() string { return "pressure" }

func (c *PressureCollector) Collect(e *Emitter) error {
	found := 0
	for i := range c.res {
		s := &c.res[i]
		r, err := s.f.reader()
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EOPNOTSUPP) {
			continue // no PSI, or no irq accounting (CONFIG_IRQ_TIME_ACCOUNTING)
		}
		if err != nil {
			return wrap(c.Name(), s.f.path, err)
		}
		p, err := parsePressure(r)
		if err != nil {
			return wrap(c.Name(), s.f.path, err)
		}
		found++
		if p.hasSome && s.waiting != "" {
			e.Counter(s.waiting, p.some)
		}
		if p.hasFull {
			e.Counter(s.stalled, p.full)
		}
	}
	if found == 0 {
		return ErrNoData
	}
	return nil
}

// psi is one /proc/pressure file's totals, in seconds.
type psi struct {
	some, full       float64
	hasSome, hasFull bool
}

// parsePressure reads the total= fields (microseconds) of the "some" and
// "full" lines of a /proc/pressure file:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=12345
func parsePressure(r io.Reader) (p psi, err error) {
	b, err := readAll(r)
	if err != nil {
		return p, err
	}
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		kind, rest := nextField(line)
		var dst *float64
		var has *bool
		switch string(kind) {
		case "some":
			dst, has = &p.some, &p.hasSome
		case "full":
			dst, has = &p.full, &p.hasFull
		case "":
			continue
		default:
			return p, malformed(n, line)
		}
		for {
			var f []byte
			if f, rest = nextField(rest); len(f) == 0 {
				return p, malformed(n, line)
			}
			if len(f) > 6 && string(f[:6]) == "total=" {
				v, err := parseNum(f[6:])
				if err != nil {
					return p, numError(n, kind, f)
				}
				*dst, *has = v/1e6, true
				break
			}
		}
	}
	return p, nil
}
