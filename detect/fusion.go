package detect

import (
	"fmt"
	"math"
)

// FuseMethod names how scores in [0, 1] are combined into one.
type FuseMethod string

// The fusion methods. With weights wᵢ ≥ 0 and scores sᵢ:
const (
	// FuseMax is max(wᵢ·sᵢ), clamped to [0, 1]: one confident detector is
	// enough.
	FuseMax FuseMethod = "max"
	// FuseMean is Σwᵢsᵢ / Σwᵢ: detectors must agree.
	FuseMean FuseMethod = "mean"
	// FuseNoisyOr is 1 - Π(1-sᵢ)^wᵢ: independent pieces of evidence add up.
	FuseNoisyOr FuseMethod = "noisy_or"
	// FuseSidak reads each score as a tail probability (see [TailScore]),
	// raises it to its weight and returns the TailScore of the smallest,
	// Šidák-corrected for the number of inputs with a non-zero weight:
	// 1 − (1 − p_min)^m. On independent inputs at their null, the fused
	// score reaches 0.5 at the rate PRef whatever m.
	FuseSidak FuseMethod = "sidak"
)

// Validate reports whether m is a known method.
func (m FuseMethod) Validate() error {
	switch m {
	case FuseMax, FuseMean, FuseNoisyOr, FuseSidak:
		return nil
	}
	return fmt.Errorf("%q is not one of \"max\", \"mean\", \"noisy_or\", \"sidak\"", string(m))
}

// Fuse combines scores with weights (same length; extra weights are
// ignored, missing ones count as 1) into one score in [0, 1]. NaN scores are
// skipped. An empty input fuses to 0.
func Fuse(m FuseMethod, scores, weights []float64) float64 {
	w := func(i int) float64 {
		if i < len(weights) {
			return weights[i]
		}
		return 1
	}
	switch m {
	case FuseMean:
		num, den := 0.0, 0.0
		for i, s := range scores {
			if math.IsNaN(s) {
				continue
			}
			num += w(i) * clamp01(s)
			den += w(i)
		}
		if den == 0 {
			return 0
		}
		return clamp01(num / den)
	case FuseSidak:
		lp, m := 0.0, 0
		for i, s := range scores {
			if w(i) == 0 {
				continue
			}
			m++
			if v := w(i) * tailLogP(s); v < lp {
				lp = v
			}
		}
		return TailScore(sidak(lp, m))
	case FuseNoisyOr:
		// Σ wᵢ·log(1-sᵢ), with log1p for accuracy near 0.
		l := 0.0
		for i, s := range scores {
			if math.IsNaN(s) || w(i) == 0 {
				continue
			}
			l += w(i) * math.Log1p(-clamp01(s))
		}
		return clamp01(-math.Expm1(l))
	default: // FuseMax
		out := 0.0
		for i, s := range scores {
			if v := w(i) * clamp01(s); v > out {
				out = v
			}
		}
		return clamp01(out)
	}
}
