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

// log2CalRefP is log2(calRefP).
const log2CalRefP = -9.965784284662087

// fastLog2 is log2(x) for x > 0 to within 3e-5, monotone, several times
// cheaper than math.Log on the machines we measured: with x = m·2^e,
// log2(m) for m in [0.5, 1) comes from a degree-5 least-squares polynomial
// in t = 2m-1.
func fastLog2(x float64) float64 {
	m, e := math.Frexp(x)
	t := 2*m - 1
	p := t * (1.4418251236161157 + t*(-0.7086749351877364+t*(0.4153977668424923+t*(-0.19439043305369996+t*0.0458707517006508))))
	return float64(e-1) + p
}

// calibrator maps one detector's raw score on one series to a score with a
// common meaning: how rare the raw score has been on this series. It keeps
// a histogram of past raw scores; the calibrated score of s is
// severityScore(log p / log calRefP) with p the (interpolated) share of
// past scores ≥ s, so every detector reaches 0.5 at the same empirical rate
// (1e-3) whatever the shape of its raw scores. A tiny multiple of the raw
// score is added so that ties beyond everything seen stay ordered.
// Calibration is computed before the score is counted (predictive).
//
// State: 108 bytes. Cost: O(calBins) adds and one fastLog2 per sample
// (~40-100 ns measured, BenchmarkCalibrator).
type calibrator struct {
	counts [calBins]uint32
	total  uint32
	hi     float64 // highest raw score seen, for pushLogP's extrapolation
}

// calBin returns the bin of s and the position of s within it in [0, 1]
// (linear in 1-s), without logarithms: with 1-s = m·2^e (m in [0.5, 1),
// e ≤ 0), 2·log2(1/(1-s)) lies in bin -2e, or -2e+1 when m < 1/√2.
func calBin(s float64) (int, float64) {
	if !(s > 0) {
		return 0, 0
	}
	if s >= 1 {
		return calBins - 1, 0
	}
	m, e := math.Frexp(1 - s)
	if e > 0 { // 1-s rounded to 1
		return 0, 0
	}
	k := -2 * e
	// Bin k spans 1-s from hi = 2^(-k/2) down to lo = 2^(-(k+1)/2).
	hi := 1.0
	if m < math.Sqrt2/2 {
		k++
		hi = math.Sqrt2 / 2
	}
	lo := hi * (math.Sqrt2 / 2)
	if k >= calBins-1 {
		// The open last bin has no known shape: count all of it as ≥ s, so
		// a detector that keeps scoring in it (or exactly 1) does not look
		// ever rarer.
		return calBins - 1, 0
	}
	return k, (hi - m) / (hi - lo)
}

// push returns the calibrated score of s, then counts s.
func (c *calibrator) push(s float64) float64 {
	if math.IsNaN(s) {
		return 0
	}
	log2p := c.pushLog2P(s)
	out := 0.0
	if log2p < 0 {
		out = severityScore(log2p / log2CalRefP)
	}
	return clamp01(out*(1-1e-3) + 1e-3*clamp01(s))
}

// pushLogP returns the natural log of the empirical tail probability of s
// (the share of past scores ≥ s, at least 1/(count+1)), then counts s.
// Beyond the highest score seen the empirical share cannot shrink any
// more, so the evidence the raw score adds beyond that highest score, read
// through the detectors' common scale (raw 0.5 at the alarm level, see
// tailLogP), is added: the result keeps decreasing with the raw score and
// a sample far beyond anything seen gets a correspondingly tiny p. NaN has
// no evidence: 0.
func (c *calibrator) pushLogP(s float64) float64 {
	if math.IsNaN(s) {
		return 0
	}
	hi := c.hi
	lp := c.pushLog2P(s) * math.Ln2
	if s > hi && c.total > 1 {
		lp += math.Min(0, tailLogP(s)-tailLogP(hi))
	}
	if s > c.hi {
		c.hi = s
	}
	return math.Max(minLogP, lp)
}

// pushLog2P is log2 of the tail probability of s; it then counts s.
func (c *calibrator) pushLog2P(s float64) float64 {
	k, frac := calBin(s)
	above := 0.0
	for i := k + 1; i < calBins; i++ {
		above += float64(c.counts[i])
	}
	above += (1 - frac) * float64(c.counts[k])
	p := (above + 1) / (float64(c.total) + 1)
	out := 0.0
	if p < 1 {
		out = fastLog2(p)
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
	return out
}
