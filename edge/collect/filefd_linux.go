package collect

import "io"

// FilefdCollector reads /proc/sys/fs/file-nr as node_exporter's
// node_filefd_allocated and node_filefd_maximum.
type FilefdCollector struct {
	f *procFile
}

// NewFilefdCollector reads <root>/sys/fs/file-nr.
func NewFilefdCollector(root string) *FilefdCollector {
	return &FilefdCollector{f: newProcFile(root + "/sys/fs/file-nr")}
}

func (c *FilefdCollector) Name() string { return "filefd" }

func (c *FilefdCollector) Collect(e *Emitter) error {
	r, err := c.f.reader()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	allocated, maximum, err := parseFileNr(r)
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	e.Gauge("node_filefd_allocated", allocated)
	e.Gauge("node_filefd_maximum", maximum)
	return nil
}

// parseFileNr parses "allocated unused maximum" ("448\t0\t2466180").
func parseFileNr(r io.Reader) (allocated, maximum float64, err error) {
	b, err := readAll(r)
	if err != nil {
		return 0, 0, err
	}
	line, _ := nextLine(b)
	a, rest := nextField(line)
	_, rest = nextField(rest)
	m, rest := nextField(rest)
	if extra, _ := nextField(rest); len(m) == 0 || len(extra) > 0 {
		return 0, 0, malformed(1, line)
	}
	if allocated, err = parseNum(a); err != nil {
		return 0, 0, numError(1, []byte("allocated"), a)
	}
	if maximum, err = parseNum(m); err != nil {
		return 0, 0, numError(1, []byte("maximum"), m)
	}
	return allocated, maximum, nil
}
