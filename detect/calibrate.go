package detect

import "math"

// calBins is the number of histogram bins of a calibrator. Bin k holds
// scores s with ⌊2·log2(1/(1-s))⌋ = k (the last bin everything above), so
// the bins are fine where scores are rare: edges at 0, 0.29, 0.5, 0.65,
// 0.75, …, 0.9997.
const calBins = 24

// calHalveAt bounds the calibration memory: when the total count reaches it,
// every count is halved, so old behaviour fades with a horizon of roughly
// calHalveAt samples.
const calHalveAt = 1 << 16

// calRefP is the tail probability that calibrates to 0.5.
const calRefP = 1e-3

// calibrator maps one detector's raw score on one series to a score with a
// common meaning: how rare the raw score has been on this series. It keeps
// a histogram of past raw scores; the calibrated score of s is
// severityScore(log p / log calRefP) with p the (interpolated) share of
// past scores ≥ s, so every detector reaches 0.5 at the same empirical rate
// (1e-3) whatever the shape of its raw scores. A tiny multiple of the raw
// score is added so that ties beyond everything seen stay ordered.
// Calibration is computed before the score is counted (predictive).
//
// State: 100 bytes. Cost: O(calBins) adds and one log per sample.
type calibrator struct {
	counts [calBins]uint32
	total  uint32
}

// calBin returns the bin of s and the position of s within it in [0, 1).
func calBin(s float64) (int, float64) {
	if !(s > 0) {
		return 0, 0
	}
	if s >= 1 {
		return calBins - 1, 0.999
	}
	u := 2 * math.Log2(1/(1-s))
	k := int(u)
	if k >= calBins-1 {
		return calBins - 1, math.Min(0.999, (u-float64(calBins-1))/8)
	}
	return k, u - float64(k)
}

// push returns the calibrated score of s, then counts s.
func (c *calibrator) push(s float64) float64 {
	if math.IsNaN(s) {
		return 0
	}
	k, frac := calBin(s)
	above := 0.0
	for i := k + 1; i < calBins; i++ {
		above += float64(c.counts[i])
	}
	above += (1 - frac) * float64(c.counts[k])
	p := (above + 1) / (float64(c.total) + 1)
	out := 0.0
	if p < 1 {
		out = severityScore(math.Log(p) / math.Log(calRefP))
	}
	c.counts[k]++
	c.total++
	if c.total >= calHalveAt {
		c.total = 0
		for i := range c.counts {
			c.counts[i] /= 2
			c.total += c.counts[i]
		}
	}
	return clamp01(out*(1-1e-3) + 1e-3*clamp01(s))
}
