package rollup

import (
	"errors"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/edgepulse/edgepulse/codec"
)

// ErrSketchMismatch is returned by [State.Merge] when both States keep
// sketches of different relative accuracies: such sketches cannot merge.
var ErrSketchMismatch = errors.New("rollup: sketches of different relative accuracy")

// A SketchConfig fixes how the States that use it sketch their values: a
// DDSketch with the exact logarithmic index mapping (every quantile it
// returns is within the relative accuracy of the exact one) and
// buffered paginated stores for positive and negative values. Such a store
// keeps up to 64 single counts as a sorted-on-demand buffer of bin indexes
// and only turns them into pages of 32 counts where pages are smaller, so a
// 60-sample window costs well under 1 KiB whatever the spread of its values,
// and the store never collapses bins (the error bound holds at every
// quantile).
//
// A SketchConfig is immutable and safe to share between goroutines; every
// State of a [Windows] shares one.
type SketchConfig struct {
	acc float64
	m   mapping.IndexMapping
}

// NewSketchConfig returns the config for sketches with the given relative
// accuracy, which must lie in (0, 1).
func NewSketchConfig(relativeAccuracy float64) (*SketchConfig, error) {
	// Not the cubically interpolated mapping: sketches-go v1.4.8 builds its
	// float64 bits with an int shift by 52 (buildFloat64), which is 0 where
	// int has 32 bits, so every quantile on armv7 came out as a denormal.
	// The logarithmic mapping costs one math.Log per value and has the
	// fewest bins for a given accuracy.
	m, err := mapping.NewLogarithmicMapping(relativeAccuracy)
	if err != nil {
		return nil, fmt.Errorf("rollup: relative accuracy %v: %w", relativeAccuracy, err)
	}
	return &SketchConfig{acc: relativeAccuracy, m: m}, nil
}

// RelativeAccuracy is the bound on |estimate−exact|/|exact| of every
// quantile.
func (c *SketchConfig) RelativeAccuracy() float64 { return c.acc }

// NewState returns an empty State that sketches its values with c. The
// sketch itself is allocated on the first sample. A nil c gives a State
// without sketch, like the zero State.
func (c *SketchConfig) NewState() *State { return &State{cfg: c} }

func (c *SketchConfig) newSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(c.m, store.NewBufferedPaginatedStore(), store.NewBufferedPaginatedStore())
}

// sameSketch tells whether sketches made with a and b merge.
func sameSketch(a, b *SketchConfig) bool {
	return a == b || a != nil && b != nil && a.m.Equals(b.m)
}

// Quantile returns the sketch's estimate of the q-quantile (0 ≤ q ≤ 1) of
// the values added to s. The estimate is within the relative accuracy of
// the sample at rank q·(Count−1) in sorted order, rounded down for ranks in
// the positive values and zeros and up for ranks in the negative values
// (DDSketch's definition). ok is false when s has no sample, no sketch, a
// value the sketch could not take (NaN, ±Inf) or was merged with a State
// without a matching sketch.
func (s *State) Quantile(q float64) (v float64, ok bool) {
	if !s.sketched || s.Count == 0 {
		return math.NaN(), false
	}
	v, err := s.sk.GetValueAtQuantile(q)
	return v, err == nil
}

// Quantiles returns the estimates at [codec.QuantileLevels] (p50, p90,
// p99) in a new slice, ready for codec.Rollup.Quantiles, or nil when
// [State.Quantile] would not be ok. Each is clamped to the window's
// [Min, Max]: a quantile lies between the extremes, the sketch's estimate
// can fall outside by its relative accuracy, and a constant's estimates
// would otherwise not be the constant (and the window would not travel
// exactly, see docs/wire.md).
func (s *State) Quantiles() []float64 {
	if !s.sketched || s.Count == 0 {
		return nil
	}
	out := make([]float64, len(codec.QuantileLevels))
	for i, q := range codec.QuantileLevels {
		v, ok := s.Quantile(q)
		if !ok {
			return nil
		}
		out[i] = min(max(v, s.Min), s.Max)
	}
	return out
}
