package collect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// HwmonCollector reads temperatures from sysfs hwmon chips
// (<sys>/class/hwmon/hwmon*/temp*_input, and the chip's device/ directory
// on old kernels) as node_exporter's node_hwmon_temp_celsius{chip,sensor},
// with node_hwmon_chip_names{chip,chip_name}. The chip label is built from
// the chip's device path as node_exporter does ("platform_coretemp_0"),
// so it is stable across reboots. Hosts without hwmon (VMs) yield
// ErrNoData. The sensor list is found once and looked for again every
// pruneEvery cycles, or at once when a sensor disappears.
type HwmonCollector struct {
	dir     string // <sys>/class/hwmon
	sensors []hwmonSensor
	chips   [][2]string // chip, chip_name
	scanned bool
	cycles  int
	buf     []byte
}

type hwmonSensor struct {
	path         string
	cp           []byte
	chip, sensor string
}

var hwmonTempInput = regexp.MustCompile(`^temp\d+_input$`)

// NewHwmonCollector reads <sysRoot>/class/hwmon.
func NewHwmonCollector(sysRoot string) *HwmonCollector {
	return &HwmonCollector{dir: filepath.Join(sysRoot, "class", "hwmon"), buf: make([]byte, 0, 64)}
}

func (c *HwmonCollector) Name() string { return "hwmon" }

func (c *HwmonCollector) Collect(e *Emitter) error {
	rescan := !c.scanned || c.cycles%pruneEvery == 0
	c.cycles++
	if rescan {
		if err := c.scan(); err != nil {
			return err
		}
	}
	if len(c.sensors) == 0 {
		return ErrNoData
	}
	for _, ch := range c.chips {
		e.Gauge("node_hwmon_chip_names", 1, "chip", ch[0], "chip_name", ch[1])
	}
	vanished := false
	for i := range c.sensors {
		s := &c.sensors[i]
		b, err := readAt(atFDCWD, s.cp, c.buf)
		c.buf = b
		if errors.Is(err, fs.ErrNotExist) {
			vanished = true
			continue
		}
		if err != nil {
			continue // drivers return EIO, ENODATA, EAGAIN for absent probes: node_exporter skips those too
		}
		f, _ := nextField(b)
		v, err := parseNum(f)
		if err != nil {
			return fmt.Errorf("collect %s: %s: %w", c.Name(), s.path, numError(1, []byte("temp"), f))
		}
		e.Gauge("node_hwmon_temp_celsius", v/1000, "chip", s.chip, "sensor", s.sensor)
	}
	if vanished {
		c.scanned = false
	}
	return nil
}

// scan lists the temperature sensors of every chip.
func (c *HwmonCollector) scan() error {
	c.scanned = true
	c.sensors, c.chips = c.sensors[:0], c.chips[:0]
	ents, err := os.ReadDir(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoData
	}
	if err != nil {
		return wrap(c.Name(), c.dir, err)
	}
	for _, ent := range ents {
		dir := filepath.Join(c.dir, ent.Name())
		chip, err := hwmonChip(dir)
		if err != nil {
			return wrap(c.Name(), dir, err)
		}
		found := false
		for _, d := range []string{dir, filepath.Join(dir, "device")} {
			files, err := os.ReadDir(d)
			if err != nil {
				continue // device/ is optional
			}
			for _, f := range files {
				if !hwmonTempInput.MatchString(f.Name()) {
					continue
				}
				p := filepath.Join(d, f.Name())
				c.sensors = append(c.sensors, hwmonSensor{path: p, cp: cpath(p), chip: chip, sensor: strings.TrimSuffix(f.Name(), "_input")})
				found = true
			}
		}
		if !found {
			continue
		}
		if name, err := os.ReadFile(filepath.Join(dir, "name")); err == nil {
			if n := strings.TrimSpace(string(name)); n != "" {
				c.chips = append(c.chips, [2]string{chip, n})
			}
		}
	}
	return nil
}

var hwmonInvalid = regexp.MustCompile(`[^a-z0-9:_]`)

func hwmonClean(s string) string {
	return strings.Trim(hwmonInvalid.ReplaceAllLiteralString(strings.ToLower(strings.TrimSpace(s)), "_"), "_")
}

// hwmonChip names a chip as node_exporter does: "<type>_<device>" from
// the device symlink's target (platform_coretemp_0), else the name file,
// else the hwmonN directory name.
func hwmonChip(dir string) (string, error) {
	if dev, err := filepath.EvalSymlinks(filepath.Join(dir, "device")); err == nil {
		prefix, name := filepath.Split(dev)
		_, typ := filepath.Split(strings.TrimRight(prefix, "/"))
		name, typ = hwmonClean(name), hwmonClean(typ)
		if typ != "" && name != "" {
			return typ + "_" + name, nil
		}
		if name != "" {
			return name, nil
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "name")); err == nil {
		if n := hwmonClean(string(b)); n != "" {
			return n, nil
		}
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	if n := hwmonClean(filepath.Base(real)); n != "" {
		return n, nil
	}
	return "", fmt.Errorf("no usable chip name")
}
