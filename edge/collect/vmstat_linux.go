package collect

import (
	"bytes"
	"io"
	"regexp"
)

// VmstatCollector reads /proc/vmstat as node_vmstat_<field>, for the
// fields Options.VmstatFields keeps (node_exporter's default: paging,
// swapping, page faults, OOM kills). nr_* fields are current amounts and
// become gauges; every other field counts events and becomes a counter.
type VmstatCollector struct {
	f      *procFile
	fields *regexp.Regexp
	names  nameCache[vmField]
}

type vmField struct {
	name  string // "" when the field is not kept
	gauge bool
}

// NewVmstatCollector reads <root>/vmstat, keeping the fields that match
// fields (nil keeps none).
func NewVmstatCollector(root string, fields *regexp.Regexp) *VmstatCollector {
	return &VmstatCollector{f: newProcFile(root + "/vmstat"), fields: fields}
}

func (c *VmstatCollector) Name() string { return "vmstat" }

func (c *VmstatCollector) Collect(e *Emitter) error {
	r, err := c.f.reader()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	err = parseKeyValues(r, func(key []byte, v float64) {
		f := c.names.get(key, c.field)
		switch {
		case f.name == "":
		case f.gauge:
			e.Gauge(f.name, v)
		default:
			e.Counter(f.name, v)
		}
	})
	c.names.endCycle()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	return nil
}

func (c *VmstatCollector) field(key string) vmField {
	if !matches(c.fields, key) {
		return vmField{}
	}
	return vmField{name: "node_vmstat_" + key, gauge: len(key) > 3 && key[:3] == "nr_"}
}

// parseKeyValues calls fn for every "key value" line (/proc/vmstat,
// /proc/net/snmp6).
func parseKeyValues(r io.Reader, fn func(key []byte, v float64)) error {
	b, err := readAll(r)
	if err != nil {
		return err
	}
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		key, rest := nextField(line)
		val, rest := nextField(rest)
		if extra, _ := nextField(rest); len(val) == 0 || len(extra) > 0 {
			return malformed(n, line)
		}
		v, err := parseNum(val)
		if err != nil {
			return numError(n, key, val)
		}
		fn(key, v)
	}
	return nil
}
