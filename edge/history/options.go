package history

import (
	"fmt"
	"time"
)

// Options configure a History. The zero value of a field means its default.
type Options struct {
	// Enabled keeps raw history; default true.
	Enabled *bool `yaml:"enabled"`
	// Retention is how long raw samples are kept; default 24h, 1m–720h.
	Retention time.Duration `yaml:"retention"`
	// MaxBytes bounds the stored bytes (keys plus values, before Badger's
	// compression); the oldest minutes go first. Default 128 MiB, ≥ 1 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxPoints caps the points one query answer carries, so the answer
	// fits a NATS message (about 32 bytes of JSON a point: 20000 points
	// stay below the default 1 MB max_payload); a request asking for more
	// gets MaxPoints and Truncated. Default 20000, 1–1000000.
	MaxPoints int `yaml:"max_points"`
}

// Defaults.
const (
	DefaultRetention = 24 * time.Hour
	DefaultMaxBytes  = 192 << 20
	DefaultMaxPoints = 20000
)

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	t := true
	return Options{Enabled: &t, Retention: DefaultRetention, MaxBytes: DefaultMaxBytes, MaxPoints: DefaultMaxPoints}
}

// WithDefaults fills zero fields from DefaultOptions.
func (o Options) WithDefaults() Options {
	d := DefaultOptions()
	if o.Enabled == nil {
		o.Enabled = d.Enabled
	}
	if o.Retention == 0 {
		o.Retention = d.Retention
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = d.MaxBytes
	}
	if o.MaxPoints == 0 {
		o.MaxPoints = d.MaxPoints
	}
	return o
}

// On reports whether history is enabled (the default).
func (o Options) On() bool { return o.Enabled == nil || *o.Enabled }

// Validate names the first bad field and its allowed range. Zero fields
// are valid (they mean the default).
func (o Options) Validate() error {
	o = o.WithDefaults()
	switch {
	case o.Retention < time.Minute || o.Retention > 720*time.Hour:
		return fmt.Errorf("history: retention %v must be between 1m and 720h", o.Retention)
	case o.MaxBytes < 1<<20:
		return fmt.Errorf("history: max_bytes %d must be ≥ 1 MiB (1048576)", o.MaxBytes)
	case o.MaxPoints < 1 || o.MaxPoints > 1_000_000:
		return fmt.Errorf("history: max_points %d must be between 1 and 1000000", o.MaxPoints)
	}
	return nil
}
