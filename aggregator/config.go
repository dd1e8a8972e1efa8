package aggregator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/aggregator/store"
)

// Config is the aggregator's configuration. The zero value of a field
// means its default.
type Config struct {
	// Name of this member (server name, ring member id); default the hostname.
	Name string `yaml:"name"`
	// NATS is the embedded hub server.
	NATS HubConfig `yaml:"nats"`
	// Partitions is the number of stream partitions; default 64.
	Partitions int `yaml:"partitions"`
	// Redis is where rollups are written.
	Redis store.Options `yaml:"redis"`
	// HTTP is the query API's listen address; default 127.0.0.1:9470.
	HTTP string `yaml:"http"`
	// Limits bound each query.
	Limits query.Limits `yaml:"limits"`
	// StreamMaxAge bounds how long un-consumed batches stay in the stream;
	// default 7 days.
	StreamMaxAge time.Duration `yaml:"stream_max_age"`
	// DedupWindow is the stream's Nats-Msg-Id de-duplication window; default 2 h.
	DedupWindow time.Duration `yaml:"dedup_window"`
}

// HubConfig configures the embedded nats-server.
type HubConfig struct {
	Host     string `yaml:"host"`      // client listen host; default 127.0.0.1
	Port     int    `yaml:"port"`      // client port; default 4250 (-1: random, for tests)
	LeafHost string `yaml:"leaf_host"` // leaf-node listen host; default 127.0.0.1
	LeafPort int    `yaml:"leaf_port"` // leaf-node port; default 7422 (-1: random)
	HTTPPort int    `yaml:"http_port"` // monitoring port (/varz, /leafz); default 0 = off
	StoreDir string `yaml:"store_dir"` // JetStream store; default /var/lib/edgepulse-aggregator/jetstream
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Name: host,
		NATS: HubConfig{
			Host: "127.0.0.1", Port: 4250, LeafHost: "127.0.0.1", LeafPort: 7422,
			StoreDir: "/var/lib/edgepulse-aggregator/jetstream",
		},
		Partitions:   64,
		Redis:        store.Options{Addr: "127.0.0.1:6379", Prefix: "ep:", Retention: 15 * 24 * time.Hour},
		HTTP:         "127.0.0.1:9470",
		StreamMaxAge: 7 * 24 * time.Hour,
		DedupWindow:  2 * time.Hour,
	}
}

// LoadConfig reads a YAML file over the defaults and validates it.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	return c, c.Validate()
}

// Validate names the first bad field and its allowed range.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("config: name must be set")
	case c.NATS.Port < -1 || c.NATS.Port > 65535:
		return fmt.Errorf("config: nats.port %d must be -1 (random) or 0–65535", c.NATS.Port)
	case c.NATS.LeafPort < -1 || c.NATS.LeafPort > 65535:
		return fmt.Errorf("config: nats.leaf_port %d must be -1 (random) or 0–65535", c.NATS.LeafPort)
	case c.NATS.StoreDir == "":
		return errors.New("config: nats.store_dir must be set")
	case c.Partitions < 1 || c.Partitions > 1024:
		return fmt.Errorf("config: partitions %d must be between 1 and 1024", c.Partitions)
	case c.StreamMaxAge < time.Minute:
		return fmt.Errorf("config: stream_max_age %v must be ≥ 1m", c.StreamMaxAge)
	case c.DedupWindow < time.Second || c.DedupWindow > c.StreamMaxAge:
		return fmt.Errorf("config: dedup_window %v must be between 1s and stream_max_age %v", c.DedupWindow, c.StreamMaxAge)
	}
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		return fmt.Errorf("config: http %q must be host:port: %w", c.HTTP, err)
	}
	return c.Redis.Validate()
}
