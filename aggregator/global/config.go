package global

import (
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Config is the regions: section of aggregator.yaml. Without peers the
// global endpoints are not served.
type Config struct {
	// Name is this region's name, the region label of its series;
	// required with peers.
	Name string `yaml:"name"`
	// Peers are the other regions' query APIs.
	Peers []Peer `yaml:"peers"`
	// Timeout bounds each peer request; default 2s, range 10ms–1m.
	Timeout time.Duration `yaml:"timeout"`
	// MaxConcurrent bounds the peer requests in flight; default 16, range 1–1024.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxSeries bounds the series one peer may return for one selector;
	// default 50000, range 1–10000000.
	MaxSeries int `yaml:"max_series"`
	// MaxBytes bounds one peer response body; default 64 MiB, range 1 KiB–1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// Peer is one other region.
type Peer struct {
	// Name is the region's name (its series' region label).
	Name string `yaml:"name"`
	// URL is the base of its aggregator's API (http://agg.eu-west:9470);
	// a load balancer over the region's members, or one member.
	URL string `yaml:"url"`
	// Token is its bearer token, if it has one.
	Token string `yaml:"token"`
}

var regionRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 16
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = 50000
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 64 << 20
	}
	return c
}

// Enabled tells whether any peer is configured.
func (c Config) Enabled() bool { return len(c.Peers) > 0 }

// Validate checks c (defaults applied) and names the bad field.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Name != "" && !regionRe.MatchString(c.Name):
		return fmt.Errorf("regions.name %q must match %s", c.Name, regionRe)
	case len(c.Peers) > 0 && c.Name == "":
		return fmt.Errorf("regions.name must be set when regions.peers are")
	case len(c.Peers) > 64:
		return fmt.Errorf("regions.peers: %d peers, at most 64", len(c.Peers))
	case c.Timeout < 10*time.Millisecond || c.Timeout > time.Minute:
		return fmt.Errorf("regions.timeout %v must be between 10ms and 1m", c.Timeout)
	case c.MaxConcurrent < 1 || c.MaxConcurrent > 1024:
		return fmt.Errorf("regions.max_concurrent %d must be between 1 and 1024", c.MaxConcurrent)
	case c.MaxSeries < 1 || c.MaxSeries > 10_000_000:
		return fmt.Errorf("regions.max_series %d must be between 1 and 10000000", c.MaxSeries)
	case c.MaxBytes < 1<<10 || c.MaxBytes > 1<<30:
		return fmt.Errorf("regions.max_bytes %d must be between 1024 and 1073741824", c.MaxBytes)
	}
	seen := map[string]bool{c.Name: true}
	for i, p := range c.Peers {
		if !regionRe.MatchString(p.Name) {
			return fmt.Errorf("regions.peers[%d].name %q must match %s", i, p.Name, regionRe)
		}
		if seen[p.Name] {
			return fmt.Errorf("regions.peers[%d].name %q is this region's or another peer's", i, p.Name)
		}
		seen[p.Name] = true
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("regions.peers[%d].url %q must be an http(s) URL with a host", i, p.URL)
		}
	}
	return nil
}
