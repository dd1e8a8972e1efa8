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
	// For pushLogP, in the severity r = √(s/(1−s)): hi is the highest r
	// seen, u tracks r's 1−calTail quantile and exc the mean excess of r
	// beyond u (the slope of an exponential tail).
	hi, u, exc float32
}

// calTail is the tail level whose mean excess gives pushLogP's slope
// beyond the highest score seen.
const calTail = 1.0 / 64

// calTailAfter is how many scores pushLogP counts before it trusts its
// slope (about calTailAfter·calTail exceedances).
const calTailAfter = 1024

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

// pushLogP returns the natural log of the tail probability of s, then
// counts s. Up to the highest score seen it is the empirical share of
// past scores ≥ s (the histogram, at least 1/(count+1)), which stays
// calibrated whatever the shape and drift of the detector's scores.
// Beyond it the share cannot shrink any more, so the probability keeps
// decreasing exponentially with the severity r = √(s/(1−s)) — each
// detector's distance from normal in units of its alarm level — beyond
// the highest severity seen, with the slope of an exponential tail fitted
// online (exc, the running mean excess beyond the 1−calTail quantile u,
// learned by a scale-free stochastic quantile step); before calTailAfter
// scores it uses the detectors' common scale instead (see tailLogP). A
// sample far beyond anything seen gets a correspondingly tiny p. NaN has
// no evidence: 0.
func (c *calibrator) pushLogP(s float64) float64 {
	if math.IsNaN(s) {
		return 0
	}
	r := math.Inf(1)
	if s < 1 {
		r = math.Sqrt(math.Max(s, 0) / (1 - s))
	}
	lp := c.pushLog2P(s) * math.Ln2
	hi, u, exc := float64(c.hi), float64(c.u), float64(c.exc)
	if r > hi && c.total > 1 {
		if c.total > calTailAfter && exc > 0 {
			lp -= (r - hi) / exc
		} else {
			lp += math.Min(0, tailLogP(s)-tailLogP(hi*hi/(1+hi*hi)))
		}
		c.hi = float32(math.Min(r, math.MaxFloat32))
	}
	switch {
	case c.u == 0:
		c.u = float32(math.Min(r, math.MaxFloat32))
	case r > u:
		e := r - u
		if exc > 0 {
			e = math.Min(e, 10*exc)
		}
		c.exc = float32(exc + 0.02*(e-exc))
		c.u = float32(u * math.Exp(0.01*(1-calTail)))
	default:
		c.u = float32(u * math.Exp(-0.01*calTail))
	}
	return math.Max(minLogP, math.Min(0, lp))
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
