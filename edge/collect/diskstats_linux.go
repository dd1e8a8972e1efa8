package collect

import (
	"io"
	"regexp"
)

// diskSectorSize is the unit of the sector counts in /proc/diskstats: the
// kernel always counts 512-byte sectors, whatever the device's.
const diskSectorSize = 512

// diskMetrics are node_exporter's names for the /proc/diskstats columns
// after the device name, in order, with the factor to base units. Kernels
// report 11 (before 4.18), 15 (discards) or 17 (flushes, 5.5+) columns.
var diskMetrics = [...]struct {
	name    string
	scale   float64
	counter bool
}{
	{"node_disk_reads_completed_total", 1, true},
	{"node_disk_reads_merged_total", 1, true},
	{"node_disk_read_bytes_total", diskSectorSize, true},
	{"node_disk_read_time_seconds_total", 1e-3, true},
	{"node_disk_writes_completed_total", 1, true},
	{"node_disk_writes_merged_total", 1, true},
	{"node_disk_written_bytes_total", diskSectorSize, true},
	{"node_disk_write_time_seconds_total", 1e-3, true},
	{"node_disk_io_now", 1, false},
	{"node_disk_io_time_seconds_total", 1e-3, true},
	{"node_disk_io_time_weighted_seconds_total", 1e-3, true},
	{"node_disk_discards_completed_total", 1, true},
	{"node_disk_discards_merged_total", 1, true},
	{"node_disk_discarded_sectors_total", 1, true},
	{"node_disk_discard_time_seconds_total", 1e-3, true},
	{"node_disk_flush_requests_total", 1, true},
	{"node_disk_flush_requests_time_seconds_total", 1e-3, true},
}

// diskLine is one /proc/diskstats line: n values after the device name.
type diskLine struct {
	n int
	v [len(diskMetrics)]float64
}

// DiskstatsCollector reads /proc/diskstats as node_exporter's
// node_disk_*{device} series plus node_disk_info{device,major,minor},
// skipping devices whose name matches the exclude regexp (partitions,
// loop, ram devices by default).
type DiskstatsCollector struct {
	f       *procFile
	exclude *regexp.Regexp
	devs    nameCache[diskDev]
	key     []byte
}

type diskDev struct {
	device, major, minor string
	skip                 bool
}

// NewDiskstatsCollector reads <root>/diskstats, skipping devices whose
// name matches exclude (nil skips none).
func NewDiskstatsCollector(root string, exclude *regexp.Regexp) *DiskstatsCollector {
	return &DiskstatsCollector{f: newProcFile(root + "/diskstats"), exclude: exclude}
}

func (c *DiskstatsCollector) Name() string { return "diskstats" }

func (c *DiskstatsCollector) Collect(e *Emitter) error {
	r, err := c.f.reader()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	err = parseDiskstats(r, func(major, minor, dev []byte, d diskLine) {
		// cache by "major minor name" so a renumbered device gets new labels
		c.key = append(append(append(append(append(c.key[:0], major...), ' '), minor...), ' '), dev...)
		dd := c.devs.get(c.key, c.device)
		if dd.skip {
			return
		}
		e.Gauge("node_disk_info", 1, "device", dd.device, "major", dd.major, "minor", dd.minor)
		for i, m := range diskMetrics[:d.n] {
			if m.counter {
				e.Counter(m.name, d.v[i]*m.scale, "device", dd.device)
			} else {
				e.Gauge(m.name, d.v[i]*m.scale, "device", dd.device)
			}
		}
	})
	c.devs.endCycle()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	return nil
}

func (c *DiskstatsCollector) device(key string) diskDev {
	major, rest := nextField([]byte(key))
	minor, rest := nextField(rest)
	dev, _ := nextField(rest)
	return diskDev{device: string(dev), major: string(major), minor: string(minor), skip: matches(c.exclude, string(dev))}
}

// parseDiskstats calls fn for every device line of /proc/diskstats:
//
//	254       0 vda 147201 21071 4962434 181744 22883 58539 4943600 20573 0 19300 208360 …
//
// d holds the raw columns (sectors, milliseconds) after the name; columns
// past the 17 known ones are ignored.
func parseDiskstats(r io.Reader, fn func(major, minor, dev []byte, d diskLine)) error {
	return eachLine(r, func(n int, line, major, rest []byte) error {
		minor, rest := nextField(rest)
		dev, rest := nextField(rest)
		if len(dev) == 0 {
			return malformed(n, line)
		}
		var d diskLine
		for d.n < len(d.v) {
			var f []byte
			if f, rest = nextField(rest); len(f) == 0 {
				break
			}
			v, err := parseNum(f)
			if err != nil {
				return numError(n, dev, f)
			}
			d.v[d.n] = v
			d.n++
		}
		if d.n < 11 {
			return malformed(n, line)
		}
		fn(major, minor, dev, d)
		return nil
	})
}
