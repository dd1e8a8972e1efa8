package detect

import (
	"math"
	"time"
	"unsafe"
)

// DetectorScores are the last scores of each detector of a [Series], after
// calibration when it is on.
type DetectorScores struct {
	EWMA, SPOT, CUSUM, Rules, Dist float64
}

// Detector indices in Series' arrays.
const (
	detEWMA = iota
	detSPOT
	detCUSUM
	detRules
	detDist
	nDet
)

// seriesFusion is the fusion setting a Series needs, copied from Config.
type seriesFusion struct {
	method    FuseMethod
	calibrate bool
	weights   [nDet]float64 // ewma, spot, cusum, rules, dist
}

// Series runs the univariate detectors of one series — [EWMA], [DSPOT],
// [CUSUM], [Dist] and the [Rule]s naming it — and fuses their scores
// (Config.Fusion) into one score in [0, 1]. Unless fusion.calibrate is
// false, the scores of EWMA, DSPOT and CUSUM are first calibrated against
// that detector's own history on this series (how rare the score has
// been; 0.5 at a 1e-3 empirical tail rate), so that detectors with
// different score distributions are comparable before they are weighted
// and fused; Dist's score already is a tail probability ([TailScore]) and
// keeps its magnitude; rule scores (0 or 1) are used as they are.
//
// With the default "sidak" fusion every statistical detector contributes
// its log tail probability (Dist's own, the calibrators' for the others),
// the smallest is Šidák-corrected for the number of enabled detectors
// and the series score is TailScore of the result (1 when a rule fires),
// so 0.5 keeps the meaning "rate PRef per sample" and a sample far beyond
// everything seen scores near 1. A detector whose weight is 0 is not run
// and holds no slices. It is the unit the agent keeps per series.
//
// State per series with the defaults: under 2 KB, reported by Footprint
// (which counts every detector and is checked against the heap in
// TestFootprintMatchesHeap). Cost per sample: the sum of the enabled
// detectors' plus three calibrations (BenchmarkSeries).
type Series struct {
	cal    [3]calibrator // ewma, spot, cusum; used when fusion.calibrate
	ewma   EWMA
	spot   DSPOT
	cusum  CUSUM
	dist   Dist
	rules  []RuleState
	fusion seriesFusion
	last   [nDet]float64
	logp   float64
	score  float64
}

// NewSeries returns the detectors for the series called name; cfg must be
// valid (see Config.Validate) and its Rules must not change while the Series
// is in use.
func NewSeries(cfg *Config, name string) Series {
	c := cfg.withDefaults()
	w := c.Fusion.Weights
	s := Series{fusion: seriesFusion{method: c.Fusion.Series, calibrate: *c.Fusion.Calibrate,
		weights: [nDet]float64{*w.EWMA, *w.SPOT, *w.CUSUM, *w.Rules, *w.Dist}}}
	if s.fusion.weights[detEWMA] > 0 {
		s.ewma = NewEWMA(c.EWMA)
	}
	if s.fusion.weights[detSPOT] > 0 {
		s.spot = NewDSPOT(c.SPOT)
	}
	if s.fusion.weights[detCUSUM] > 0 {
		s.cusum = NewCUSUM(c.CUSUM)
	}
	if s.fusion.weights[detDist] > 0 {
		s.dist = NewDist(c.Dist)
	}
	if s.fusion.weights[detRules] > 0 {
		for i := range cfg.Rules {
			if cfg.Rules[i].Series == name {
				s.rules = append(s.rules, NewRuleState(&cfg.Rules[i]))
			}
		}
	}
	return s
}

// FitDist fits the distribution detector to training values (sorted in
// place; see [Dist.Fit]). It does nothing when Dist is disabled.
func (s *Series) FitDist(values []float64) {
	if s.fusion.weights[detDist] > 0 {
		s.dist.Fit(values)
	}
}

// Dist returns the series' distribution detector.
func (s *Series) Dist() *Dist { return &s.dist }

// Push feeds the sample x observed at time t (any monotonic clock; only
// rules use it) to every enabled detector and returns the fused score.
// NaN is missing.
func (s *Series) Push(t time.Duration, x float64) float64 {
	return s.push(t, x, true)
}

// Learn is Push without the distribution detector: the other detectors
// learn x while Dist waits for FitDist (training).
func (s *Series) Learn(t time.Duration, x float64) float64 {
	return s.push(t, x, false)
}

func (s *Series) push(t time.Duration, x float64, dist bool) float64 {
	w := &s.fusion.weights
	sidakMode := s.fusion.method == FuseSidak
	var lp [nDet]float64
	if w[detEWMA] > 0 {
		s.last[detEWMA] = s.ewma.Push(x)
	}
	if w[detSPOT] > 0 {
		s.last[detSPOT] = s.spot.Push(x)
	}
	if w[detCUSUM] > 0 {
		s.last[detCUSUM] = s.cusum.Push(x)
	}
	for i := range s.cal {
		if w[i] == 0 {
			continue
		}
		switch {
		case math.IsNaN(x):
			lp[i] = 0
		case s.fusion.calibrate && sidakMode:
			lp[i] = s.cal[i].pushLogP(s.last[i])
			s.last[i] = TailScore(lp[i])
		case s.fusion.calibrate:
			s.last[i] = s.cal[i].push(s.last[i])
		default:
			lp[i] = tailLogP(s.last[i])
		}
	}
	if w[detDist] > 0 {
		if dist {
			s.last[detDist] = s.dist.Push(x)
			lp[detDist] = s.dist.LogP()
		} else {
			s.last[detDist], lp[detDist] = 0, 0
		}
	}
	firing := false
	if len(s.rules) > 0 {
		r := 0.0
		for i := range s.rules {
			if s.rules[i].Push(t, x) > r {
				r = 1
			}
		}
		s.last[detRules] = r
		firing = r > 0
	}
	if !sidakMode {
		s.score = Fuse(s.fusion.method, s.last[:], w[:])
		s.logp = tailLogP(s.score)
		return s.score
	}
	minLP, m := 0.0, 0
	for i := range lp {
		if i == detRules || w[i] == 0 {
			continue
		}
		m++
		if v := w[i] * lp[i]; v < minLP {
			minLP = v
		}
	}
	s.logp = sidak(minLP, m)
	if firing {
		s.logp = minLogP
	}
	s.score = TailScore(s.logp)
	return s.score
}

// LogP returns the log tail probability behind the last score: with the
// "sidak" fusion the corrected smallest of the detectors', otherwise the
// score read back through TailScore.
func (s *Series) LogP() float64 { return s.logp }

// Score returns the fused score of the last Push.
func (s *Series) Score() float64 { return s.score }

// Scores returns each detector's last score.
func (s *Series) Scores() DetectorScores {
	return DetectorScores{EWMA: s.last[detEWMA], SPOT: s.last[detSPOT], CUSUM: s.last[detCUSUM], Rules: s.last[detRules], Dist: s.last[detDist]}
}

// FiringRules appends the names of the rules currently firing to dst.
func (s *Series) FiringRules(dst []string) []string {
	for i := range s.rules {
		if s.rules[i].Firing() {
			dst = append(dst, s.rules[i].rule.Name)
		}
	}
	return dst
}

// Footprint reports the state of all detectors of the series and the cost
// per sample.
func (s *Series) Footprint() Footprint {
	b := int(unsafe.Sizeof(*s)) - int(unsafe.Sizeof(s.spot))
	b += s.spot.Footprint().StateBytes
	b += cap(s.rules) * int(unsafe.Sizeof(RuleState{}))
	return Footprint{StateBytes: b, PerSample: "sum of the enabled detectors: O(1) amortised"}
}
