package detect

import (
	"fmt"
	"unsafe"
)

// IncidentConfig configures an [IncidentTracker]. The zero value of a field
// means its default.
type IncidentConfig struct {
	// Open is the score at or above which a sample counts towards opening.
	// Default 0.8; range (0, 1].
	Open float64 `yaml:"open"`
	// Close is the score below which a sample counts towards closing.
	// Default 0.5; range (0, Open].
	Close float64 `yaml:"close"`
	// OpenAfter is how many consecutive samples must reach Open to open.
	// Default 3; range [1, 1e6].
	OpenAfter int `yaml:"open_after"`
	// CloseAfter is how many consecutive samples must stay below Close to
	// close. Default 30; range [1, 1e6].
	CloseAfter int `yaml:"close_after"`
}

// DefaultIncidentConfig returns the defaults documented on [IncidentConfig].
func DefaultIncidentConfig() IncidentConfig {
	return IncidentConfig{Open: 0.8, Close: 0.5, OpenAfter: 3, CloseAfter: 30}
}

// Effective returns c with every default filled in.
func (c IncidentConfig) Effective() IncidentConfig { return c.withDefaults() }

func (c IncidentConfig) withDefaults() IncidentConfig {
	d := DefaultIncidentConfig()
	if c.Open == 0 {
		c.Open = d.Open
	}
	if c.Close == 0 {
		c.Close = min(d.Close, c.Open)
	}
	if c.OpenAfter == 0 {
		c.OpenAfter = d.OpenAfter
	}
	if c.CloseAfter == 0 {
		c.CloseAfter = d.CloseAfter
	}
	return c
}

// Validate reports the first field out of range, by its YAML name.
func (c IncidentConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case !(c.Open > 0 && c.Open <= 1):
		return fmt.Errorf("open: %v out of range (0, 1]", c.Open)
	case !(c.Close > 0 && c.Close <= c.Open):
		return fmt.Errorf("close: %v out of range (0, open=%v]", c.Close, c.Open)
	case c.OpenAfter < 1 || c.OpenAfter > 1e6:
		return fmt.Errorf("open_after: %d out of range [1, 1e6]", c.OpenAfter)
	case c.CloseAfter < 1 || c.CloseAfter > 1e6:
		return fmt.Errorf("close_after: %d out of range [1, 1e6]", c.CloseAfter)
	}
	return nil
}

// Transition is what one sample did to an incident.
type Transition int8

// The transitions an [IncidentTracker] reports.
const (
	NoChange Transition = iota
	Opened
	Closed
)

// String names the transition.
func (t Transition) String() string {
	switch t {
	case Opened:
		return "opened"
	case Closed:
		return "closed"
	}
	return "none"
}

// IncidentTracker turns a stream of fused scores into incidents with
// hysteresis: an incident opens when the score is ≥ Open for OpenAfter
// consecutive samples and closes when it is < Close for CloseAfter
// consecutive samples, so a flapping score yields one open and one close,
// not a storm. Scores between Close and Open keep the current state (and
// reset both run counters).
//
// State: 48 bytes. Cost per sample: O(1), two comparisons.
type IncidentTracker struct {
	open, close           float64
	openAfter, closeAfter int
	run                   int
	active                bool
}

// NewIncidentTracker returns a tracker; cfg must be valid.
func NewIncidentTracker(cfg IncidentConfig) IncidentTracker {
	cfg = cfg.withDefaults()
	return IncidentTracker{open: cfg.Open, close: cfg.Close, openAfter: cfg.OpenAfter, closeAfter: cfg.CloseAfter}
}

// Push feeds one score and reports the transition it caused. NaN counts as
// neither high nor low.
func (t *IncidentTracker) Push(score float64) Transition {
	if !t.active {
		if score >= t.open {
			t.run++
			if t.run >= t.openAfter {
				t.active, t.run = true, 0
				return Opened
			}
		} else {
			t.run = 0
		}
		return NoChange
	}
	if score < t.close {
		t.run++
		if t.run >= t.closeAfter {
			t.active, t.run = false, 0
			return Closed
		}
	} else {
		t.run = 0
	}
	return NoChange
}

// Active reports whether an incident is open.
func (t *IncidentTracker) Active() bool { return t.active }

// Footprint reports the state size and cost per sample.
func (t *IncidentTracker) Footprint() Footprint {
	return Footprint{StateBytes: int(unsafe.Sizeof(*t)), PerSample: "O(1): 2 comparisons"}
}
