package collect

import (
	"bufio"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// OSReleaseCollector reports node_exporter's node_os_info (= 1, labelled
// with os-release's fields) and node_os_version{id,id_like,name} (the
// VERSION_ID as a number) from <etc>/os-release, or
// <etc>/../usr/lib/os-release when that is missing. A host without either
// has neither series (ErrNoData). The file is read once a minute at most.
type OSReleaseCollector struct {
	paths   []string
	labels  []string
	version float64
	ok      bool
	reads   int
}

// osReleaseEvery: os-release is read every this many cycles (it changes
// on an upgrade, not in a second).
const osReleaseEvery = 60

// NewOSReleaseCollector reads <etcRoot>/os-release.
func NewOSReleaseCollector(etcRoot string) *OSReleaseCollector {
	return &OSReleaseCollector{paths: []string{etcRoot + "/os-release", etcRoot + "/../usr/lib/os-release"}}
}

func (c *OSReleaseCollector) Name() string { return "os" }

func (c *OSReleaseCollector) Collect(e *Emitter) error {
	if c.reads%osReleaseEvery == 0 {
		if err := c.read(); err != nil {
			return err
		}
	}
	c.reads++
	if !c.ok {
		return ErrNoData
	}
	e.Gauge("node_os_info", 1, c.labels...)
	e.Gauge("node_os_version", c.version, "id", c.labels[3], "id_like", c.labels[5], "name", c.labels[11])
	return nil
}

func (c *OSReleaseCollector) read() error {
	for _, p := range c.paths {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return wrap(c.Name(), p, err)
		}
		kv, err := parseOSRelease(f)
		f.Close()
		if err != nil {
			return wrap(c.Name(), p, err)
		}
		c.labels = []string{
			"build_id", kv["BUILD_ID"], "id", kv["ID"], "id_like", kv["ID_LIKE"], "image_id", kv["IMAGE_ID"],
			"image_version", kv["IMAGE_VERSION"], "name", kv["NAME"], "pretty_name", kv["PRETTY_NAME"],
			"variant", kv["VARIANT"], "variant_id", kv["VARIANT_ID"], "version", kv["VERSION"],
			"version_codename", kv["VERSION_CODENAME"], "version_id", kv["VERSION_ID"],
		}
		// node_exporter: VERSION_ID as a float, its leading "major.minor".
		c.version = 0
		parts := strings.SplitN(kv["VERSION_ID"], ".", 3)
		if v, err := strconv.ParseFloat(strings.Join(parts[:min(2, len(parts))], "."), 64); err == nil {
			c.version = v
		}
		c.ok = true
		return nil
	}
	c.ok = false
	return nil
}

// parseOSRelease parses os-release(5): KEY=value lines, values optionally
// quoted with shell quoting; comments and blank lines skipped.
func parseOSRelease(r io.Reader) (map[string]string, error) {
	kv := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, malformed(n, []byte(line))
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
			if line[len(k)+1] == '"' {
				v = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\$`, `$`, "\\`", "`").Replace(v)
			}
		}
		kv[k] = v
	}
	return kv, sc.Err()
}
