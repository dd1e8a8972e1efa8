package detect

import (
	"fmt"
	"math"
	"unsafe"
)

// CUSUMConfig configures a [CUSUM] detector. The zero value of a field means
// its default.
type CUSUMConfig struct {
	// Alpha is the smoothing factor of the reference level and noise
	// variance; it must be slow compared with the shifts to catch. Default
	// 0.01; range (0, 1].
	Alpha float64 `yaml:"alpha"`
	// K is the allowance (slack) in standard deviations subtracted from
	// each standardised residual; shifts smaller than K are ignored.
	// Default 0.5; range [0, 10].
	K float64 `yaml:"k"`
	// H is the decision interval in standard deviations: a sum of H scores
	// 1. Default 8; range (0, 1000].
	H float64 `yaml:"h"`
	// Clip bounds the residual used to learn the reference, in standard
	// deviations. Default 3; range [1, 100].
	Clip float64 `yaml:"clip"`
	// MinStd is the smallest standard deviation used (series' unit).
	// Default 0.
	MinStd float64 `yaml:"min_std"`
	// Warmup is the number of samples learned before scores are non-zero.
	// Default 30.
	Warmup int `yaml:"warmup"`
}

// DefaultCUSUMConfig returns the defaults documented on [CUSUMConfig].
func DefaultCUSUMConfig() CUSUMConfig {
	return CUSUMConfig{Alpha: 0.01, K: 0.5, H: 8, Clip: 3, Warmup: 30}
}

func (c CUSUMConfig) withDefaults() CUSUMConfig {
	d := DefaultCUSUMConfig()
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	if c.K == 0 {
		c.K = d.K
	}
	if c.H == 0 {
		c.H = d.H
	}
	if c.Clip == 0 {
		c.Clip = d.Clip
	}
	if c.Warmup == 0 {
		c.Warmup = d.Warmup
	}
	return c
}

// Validate reports the first field out of range, by its YAML name.
func (c CUSUMConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case !(c.Alpha > 0 && c.Alpha <= 1):
		return fmt.Errorf("alpha: %v out of range (0, 1]", c.Alpha)
	case !(c.K >= 0 && c.K <= 10):
		return fmt.Errorf("k: %v out of range [0, 10]", c.K)
	case !(c.H > 0 && c.H <= 1000):
		return fmt.Errorf("h: %v out of range (0, 1000]", c.H)
	case !(c.Clip >= 1 && c.Clip <= 100):
		return fmt.Errorf("clip: %v out of range [1, 100]", c.Clip)
	case !(c.MinStd >= 0 && !math.IsInf(c.MinStd, 0)):
		return fmt.Errorf("min_std: %v out of range [0, +Inf)", c.MinStd)
	case c.Warmup < 1 || c.Warmup > 1<<30:
		return fmt.Errorf("warmup: %d out of range [1, 2^30]", c.Warmup)
	}
	return nil
}

// CUSUM is a two-sided cumulative-sum change detector (Page 1954) for level
// shifts and slow leaks. Each sample is standardised against a slowly
// adapting reference level (an [EWMA] with smoothing Alpha and clipped
// learning); the sums S⁺ = max(0, S⁺ + z - K) and S⁻ = max(0, S⁻ - z - K)
// grow while the series sits away from the reference. The score is
// max(S⁺, S⁻)/H, clamped to [0, 1]; the sums are capped at 2·H so that the
// score falls back within about 2·H/K samples once the series returns, and
// a lasting shift is absorbed as the reference catches up (about 1/Alpha
// samples).
//
// State per series: 112 bytes (the struct; no slices). Cost per sample:
// O(1), one sqrt and about 30 flops.
type CUSUM struct {
	ref      EWMA
	k, h     float64
	pos, neg float64
	score    float64
}

// NewCUSUM returns a CUSUM detector; cfg must be valid (see Validate).
func NewCUSUM(cfg CUSUMConfig) CUSUM {
	cfg = cfg.withDefaults()
	ref := NewEWMA(EWMAConfig{Alpha: cfg.Alpha, Clip: cfg.Clip, Scale: 1, MinStd: cfg.MinStd, Warmup: cfg.Warmup})
	return CUSUM{ref: ref, k: cfg.K, h: cfg.H}
}

// Push scores x against the sums including x, then learns x. NaN and ±Inf
// are missing: they score 0 and change nothing.
func (c *CUSUM) Push(x float64) float64 {
	z, ok := c.ref.push(x)
	if !ok {
		c.score = 0
		return 0
	}
	if c.ref.n <= c.ref.warmup {
		c.score = 0
		return 0
	}
	if math.IsInf(z, 0) || math.IsNaN(z) {
		z = math.Copysign(2*c.h+c.k, z)
	}
	limit := 2 * c.h
	c.pos = math.Min(limit, math.Max(0, c.pos+z-c.k))
	c.neg = math.Min(limit, math.Max(0, c.neg-z-c.k))
	c.score = clamp01(math.Max(c.pos, c.neg) / c.h)
	return c.score
}

// Score returns the score of the last Push.
func (c *CUSUM) Score() float64 { return c.score }

// Sums returns the current upward and downward sums, in standard deviations.
func (c *CUSUM) Sums() (up, down float64) { return c.pos, c.neg }

// Footprint reports the state size and cost per sample.
func (c *CUSUM) Footprint() Footprint {
	return Footprint{StateBytes: int(unsafe.Sizeof(*c)), PerSample: "O(1): 1 sqrt, ~30 flops"}
}
