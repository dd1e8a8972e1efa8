package collect

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
)

// MeminfoCollector reads /proc/meminfo as node_memory_<Field>_bytes, every
// field the kernel reports, like node_exporter.
type MeminfoCollector struct {
	path  string
	buf   []byte
	names map[string]string // field → metric name, cached
}

// NewMeminfoCollector reads <root>/meminfo.
func NewMeminfoCollector(root string) *MeminfoCollector {
	return &MeminfoCollector{path: root + "/meminfo", names: make(map[string]string)}
}

func (c *MeminfoCollector) Name() string { return "meminfo" }

func (c *MeminfoCollector) Collect(e *Emitter) error {
	b, err := readFileInto(c.path, c.buf)
	c.buf = b
	if err != nil {
		return wrap(c.Name(), c.path, err)
	}
	err = parseMeminfo(bytes.NewReader(b), func(field []byte, v float64) {
		name, ok := c.names[string(field)]
		if !ok {
			name = meminfoMetric(string(field))
			c.names[string(field)] = name
		}
		e.Gauge(name, v)
	})
	if err != nil {
		return wrap(c.Name(), c.path, err)
	}
	return nil
}

// meminfoMetric maps a meminfo field to node_exporter's metric name:
// "Active(anon)" becomes node_memory_Active_anon_bytes.
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
	return string(append(b, "_bytes"...))
}

// parseMeminfo calls fn for every "Field: value [kB]" line, with the value
// in bytes (kB values are multiplied by 1024, as node_exporter does).
func parseMeminfo(r io.Reader, fn func(field []byte, v float64)) error {
	s := bufio.NewScanner(r)
	line := 0
	for s.Scan() {
		line++
		f := bytes.Fields(s.Bytes())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 || len(f) > 3 || f[0][len(f[0])-1] != ':' {
			return fmt.Errorf("line %d: malformed %q", line, s.Bytes())
		}
		v, err := strconv.ParseFloat(string(f[1]), 64)
		if err != nil {
			return fmt.Errorf("line %d: value %q: %w", line, f[1], err)
		}
		if len(f) == 3 {
			if string(f[2]) != "kB" {
				return fmt.Errorf("line %d: unknown unit %q", line, f[2])
			}
			v *= 1024
		}
		fn(f[0][:len(f[0])-1], v)
	}
	return s.Err()
}

// readFileInto reads a whole (small, /proc) file into buf's storage.
func readFileInto(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
