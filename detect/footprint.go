package detect

import "math"

// Footprint states what a detector costs for one series: bytes of state and
// work per sample. StateBytes is measured, not estimated: unsafe.Sizeof of
// the detector value plus the capacity of every slice it owns.
type Footprint struct {
	// StateBytes is the memory held for one series (or, for PCA, one host).
	StateBytes int
	// PerSample describes the work done per sample in big-O terms with the
	// dominant operations, e.g. "O(1): 1 sqrt, ~20 flops".
	PerSample string
}

// detector is the shape every univariate detector in this package has.
// Implementations are not safe for concurrent use.
type detector interface {
	// Push scores x against the state before x, then learns x. A NaN x is
	// missing: it scores 0 and changes nothing.
	Push(x float64) float64
	// Score returns the score of the last Push.
	Score() float64
	// Footprint reports state size and cost per sample.
	Footprint() Footprint
}

// Compile-time checks that the detectors share the detector shape.
var (
	_ detector = (*EWMA)(nil)
	_ detector = (*SPOT)(nil)
	_ detector = (*DSPOT)(nil)
	_ detector = (*CUSUM)(nil)
)

// clamp01 limits s to [0, 1]; NaN becomes 0.
func clamp01(s float64) float64 {
	if !(s > 0) {
		return 0
	}
	if s > 1 {
		return 1
	}
	return s
}

// severityScore maps a severity r ≥ 0 — how far a sample is from normal,
// in units of the detector's own alarm level — to a score in [0, 1]:
// r²/(1+r²). Every detector uses it, so scores are comparable across
// detectors: 0.5 means "at this detector's alarm level", 0.8 twice as far,
// 0.9 three times, and the score never saturates before r = ∞, which keeps
// high quantiles of the score distinct.
func severityScore(r float64) float64 {
	if math.IsInf(r, 0) {
		return 1
	}
	r2 := r * r
	return clamp01(r2 / (1 + r2))
}

// zScore maps a z-score to [0, 1] with severity |z|/scale: |z| = scale
// scores 0.5.
func zScore(z, scale float64) float64 {
	return severityScore(z / scale)
}

// stdFloor is the smallest standard deviation used to standardise a value
// around mean: minStd, but never below 1e-9 relative to the mean, so a
// constant series cannot divide by zero.
func stdFloor(minStd, mean float64) float64 {
	f := 1e-9 * math.Abs(mean)
	if f < 1e-300 {
		f = 1e-300
	}
	if minStd > f {
		return minStd
	}
	return f
}

// rate returns the learning rate for the n-th sample: 1/n while that is
// larger than alpha (an exact running mean during warm-up), alpha after.
func rate(n uint64, alpha float64) float64 {
	if n == 0 {
		return 1
	}
	if r := 1 / float64(n); r > alpha {
		return r
	}
	return alpha
}
