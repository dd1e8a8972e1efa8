package detect

import "math"

// PRef is the reference tail probability: a score is 0.5 when the sample
// is as extreme as a normal sample is with probability PRef. [Series] and
// [Scorer] (with the "sidak" fusion) correct for the number of detectors
// and series they fuse, so 0.5 means an expected false-alarm rate of PRef
// per sample per series, and per row per host, on data that follows the
// detectors' null models (for [Dist]: the training or warm-up
// distribution).
const PRef = 1e-3

// logPRef is log(PRef).
var logPRef = math.Log(PRef)

// minLogP bounds log tail probabilities from below, so that sums and
// averages of them stay finite.
const minLogP = -1000

// TailScore maps the log tail probability of a sample (log p, p the
// probability that a normal sample is at least as extreme) to a score in
// [0, 1]: 1/(1+√(p/PRef)). It is strictly decreasing in p: 0.5 at
// p = PRef, 0.76 at PRef/10, 0.91 at PRef/100, 0.99 at 10⁻⁴·PRef; p = 1
// (no evidence at all) scores 0.
func TailScore(logp float64) float64 {
	if !(logp < 0) {
		return 0
	}
	return 1 / (1 + math.Exp(0.5*(logp-logPRef)))
}

// tailLogP inverts TailScore: the log p whose score is s.
func tailLogP(s float64) float64 {
	if !(s > 0) {
		return 0
	}
	if s >= 1 {
		return minLogP
	}
	return math.Max(minLogP, math.Min(0, logPRef+2*math.Log((1-s)/s)))
}

// sidak corrects the smallest of m log p-values for having looked at m of
// them: log(1 - (1-p)^m), ≈ log(m·p) for small p: the probability that at
// least one of m independent normal inputs is that extreme, so the alarm
// rate stays PRef whatever m.
func sidak(logp float64, m int) float64 {
	if m <= 1 || !(logp < 0) {
		return math.Max(minLogP, math.Min(logp, 0))
	}
	if logp < -14 { // p < 1e-6: m·p is exact to 1e-6 relative
		return math.Max(minLogP, math.Min(0, logp+math.Log(float64(m))))
	}
	p := math.Exp(logp)
	return math.Min(0, math.Log(-math.Expm1(float64(m)*math.Log1p(-p))))
}
