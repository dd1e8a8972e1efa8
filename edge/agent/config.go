package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/collect"
	"github.com/edgepulse/edgepulse/edge/history"
	"github.com/edgepulse/edgepulse/edge/spool"
)

// Config is the agent's configuration. The zero value of any field means
// its default.
type Config struct {
	// Site names the site this host belongs to (a subject token).
	Site string `yaml:"site"`
	// Host names this host (a subject token); default: the hostname.
	Host string `yaml:"host"`
	// Job is the job label every series carries, as Prometheus gives every
	// series of a scrape job (dashboards filter on it: Node Exporter Full's
	// $job). Empty or unset: "node", node_exporter's usual job name; at
	// most 128 characters, no control characters.
	Job string `yaml:"job"`
	// NATSURL is the site leaf node the agent publishes through.
	NATSURL string `yaml:"nats_url"`
	// NATSUser and NATSPasswordFile are the agent's own user on the site
	// leaf (identity.go); empty: credentials in nats_url, or none.
	NATSUser         string `yaml:"nats_user"`
	NATSPasswordFile string `yaml:"nats_password_file"`
	// Interval between collections; default 1 s.
	Interval time.Duration `yaml:"interval"`
	// Window is the rollup window; default 60 s.
	Window time.Duration `yaml:"window"`
	// Lateness is how long after its end a window waits for samples; default 2 s.
	Lateness time.Duration `yaml:"lateness"`
	// ProcRoot is the procfs mount to read; default /proc.
	ProcRoot string `yaml:"procfs"`
	// DataDir holds the spool; default /var/lib/edgepulse.
	DataDir string `yaml:"data_dir"`
	// SpoolMaxBytes bounds the spool; default 256 MiB.
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
	// DiskReserve is the free space the agent leaves on the data_dir's
	// file system: below it the spool drops its oldest windows for new
	// ones (or refuses new ones when it holds none), counted; the raw
	// history stops and shrinks below twice it. Default
	// spool.DefaultDiskReserve (8 MiB), at least spool.MinDiskReserve.
	DiskReserve int64 `yaml:"disk_reserve"`
	// HeapHeadroom is how far the Go heap may grow above the live heap
	// before a collection (see gcpace.go): default 1 MiB; -1 leaves the
	// runtime's GOGC=100 (as does GOGC set in the environment).
	HeapHeadroom int64 `yaml:"heap_headroom"`
	// MaxSeries caps the number of series (cardinality limit); default 5000.
	MaxSeries int `yaml:"max_series"`
	// QueueCapacity is the sample queue's size; default 16384.
	QueueCapacity int `yaml:"queue_capacity"`
	// MetricsListen is where the agent serves its own /metrics; default
	// 127.0.0.1:9471, "off" to disable.
	MetricsListen string `yaml:"metrics_listen"`
	// Collect configures the collectors (filters, field sets, roots).
	Collect collect.Options `yaml:"collect"`
	// Detect configures edge anomaly detection and incidents.
	Detect DetectConfig `yaml:"detect"`
	// Wire chooses how windows are packed on the uplink (see
	// codec.WireOptions); default: every technique on, 1 % precision,
	// a keyframe every 360 frames.
	Wire codec.WireOptions `yaml:"wire"`
	// History keeps raw samples on disk for detail on demand.
	History history.Options `yaml:"history"`
	// RemoteConfig follows configuration overrides pushed through the
	// hub's KV bucket.
	RemoteConfig RemoteConfig `yaml:"remote_config"`
	// Clock checks this host's clock against the hub's (clock.go).
	Clock ClockConfig `yaml:"clock"`

	// Version is the binary's version (set by the command, not the file).
	Version string `yaml:"-"`
	// WindowLog, when set, is a file the agent appends every closed
	// window's full batch to as one JSON line (exact values, before wire
	// encoding), for the backhaul meter's fidelity check and offline
	// re-encoding. Default: off. Grows by one batch per window: not for
	// production.
	WindowLog string `yaml:"window_log"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Site:          "site1",
		Job:           "node",
		Host:          SanitizeToken(host),
		NATSURL:       "nats://127.0.0.1:4222",
		Interval:      time.Second,
		Window:        time.Minute,
		Lateness:      2 * time.Second,
		ProcRoot:      "/proc",
		DataDir:       "/var/lib/edgepulse",
		SpoolMaxBytes: 256 << 20,
		MaxSeries:     5000,
		QueueCapacity: 16384,
		Collect:       DefaultCollectOptions(),
		MetricsListen: "127.0.0.1:9471",
		Wire:          codec.DefaultWireOptions(),
	}
}

// DefaultCollectOptions are node_exporter's filters, except that every
// /proc/vmstat field is kept: the agent keeps detail at home and ships
// unchanged series for almost nothing, and paging, reclaim and compaction
// counters are what explain a memory incident.
func DefaultCollectOptions() collect.Options {
	o := collect.DefaultOptions()
	o.VmstatFields = ".*"
	return o
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// SanitizeToken maps a hostname to a valid subject token: dots and other
// characters become '-'.
func SanitizeToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// LoadConfig reads a YAML file over the defaults and validates it.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := ParseConfig(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return c, c.Validate()
}

// ParseConfig decodes YAML into c, rejecting unknown fields.
func ParseConfig(b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Validate names the first bad field and its allowed range.
func (c Config) Validate() error {
	switch {
	case !tokenRE.MatchString(c.Site):
		return fmt.Errorf("config: site %q must be 1–64 characters of [A-Za-z0-9_-]", c.Site)
	case c.NATSPasswordFile != "" && c.NATSUser == "":
		return errors.New("config: nats_password_file needs nats_user")
	case c.Clock.Validate() != nil:
		return c.Clock.Validate()
	case !tokenRE.MatchString(c.Host):
		return fmt.Errorf("config: host %q must be 1–64 characters of [A-Za-z0-9_-]", c.Host)
	case len(c.Job) > 128 || strings.ContainsFunc(c.Job, unicode.IsControl):
		return fmt.Errorf("config: job %q must be at most 128 characters without control characters (empty: \"node\")", c.Job)
	case c.NATSURL == "":
		return errors.New("config: nats_url must be set")
	case c.Interval < 100*time.Millisecond || c.Interval > time.Minute:
		return fmt.Errorf("config: interval %v must be between 100ms and 1m", c.Interval)
	case c.Window < time.Second || c.Window > time.Hour || c.Window%c.Interval != 0:
		return fmt.Errorf("config: window %v must be between 1s and 1h and a multiple of interval %v", c.Window, c.Interval)
	case c.Lateness < 0 || c.Lateness >= c.Window:
		return fmt.Errorf("config: lateness %v must be ≥ 0 and below window %v", c.Lateness, c.Window)
	case c.ProcRoot == "":
		return errors.New("config: procfs must be set")
	case c.DataDir == "":
		return errors.New("config: data_dir must be set")
	case c.SpoolMaxBytes < 1<<20:
		return fmt.Errorf("config: spool_max_bytes %d must be ≥ 1 MiB", c.SpoolMaxBytes)
	case c.HeapHeadroom != 0 && c.HeapHeadroom != -1 && c.HeapHeadroom < 1<<20:
		return fmt.Errorf("config: heap_headroom %d must be ≥ 1 MiB, or -1 for the Go runtime's GOGC=100 (0 means %d)", c.HeapHeadroom, DefaultHeapHeadroom)
	case c.DiskReserve != 0 && c.DiskReserve < spool.MinDiskReserve:
		return fmt.Errorf("config: disk_reserve %d must be ≥ %d (0 means %d)", c.DiskReserve, spool.MinDiskReserve, spool.DefaultDiskReserve)
	case c.MaxSeries < 1 || c.MaxSeries > 1_000_000:
		return fmt.Errorf("config: max_series %d must be between 1 and 1000000", c.MaxSeries)
	case c.QueueCapacity < 64 || c.QueueCapacity > 1<<24:
		return fmt.Errorf("config: queue_capacity %d must be between 64 and 16777216", c.QueueCapacity)
	}
	if err := c.Wire.Validate(); err != nil {
		return fmt.Errorf("config: wire: %w", err)
	}
	if err := c.Collect.Validate(); err != nil {
		return fmt.Errorf("config: collect: %w", err)
	}
	if err := c.History.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.RemoteConfig.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	d, err := c.Detect.withDefaults()
	if err != nil {
		return err
	}
	return d.Validate()
}

// JobLabel is the job label's value: Job, or "node" when empty.
func (c Config) JobLabel() string {
	if c.Job == "" {
		return "node"
	}
	return c.Job
}

// AgentID is the agent's identity in Nats-Msg-Id: site/host.
func (c Config) AgentID() string { return c.Site + "/" + c.Host }

// Subject is where the agent publishes its batches.
func (c Config) Subject() string { return "tele." + c.Site + "." + c.Host }
