package detect

import (
	"math"
	"time"
	"unsafe"
)

// DetectorScores are the last scores of each detector of a [Series], after
// calibration when it is on.
type DetectorScores struct {
	EWMA, SPOT, CUSUM, Rules float64
}

// seriesFusion is the fusion setting a Series needs, copied from Config.
type seriesFusion struct {
	method    FuseMethod
	calibrate bool
	weights   [4]float64 // ewma, spot, cusum, rules
}

// Series runs the univariate detectors of one series — [EWMA], [DSPOT],
// [CUSUM] and the [Rule]s naming it — and fuses their scores (Config.Fusion)
// into one score in [0, 1]. Unless fusion.calibrate is false, each
// statistical detector's score is first calibrated against that detector's
// own history on this series (how rare the score has been; 0.5 at a 1e-3
// empirical tail rate), so that detectors with different score
// distributions are comparable before they are weighted and fused; rule
// scores (0 or 1) are used as they are. A detector whose weight is 0 is
// not run and holds no slices. It is the unit the agent keeps per series.
//
// State per series with the defaults: 1,496 bytes, plus 32 per rule,
// reported by Footprint (which counts every detector and checked against
// the heap in TestFootprintMatchesHeap). Cost per sample: the sum of the
// enabled detectors' plus three calibrations; ~0.5 µs amortised with the
// defaults (BenchmarkSeries).
type Series struct {
	cal    [3]calibrator // ewma, spot, cusum; used when fusion.calibrate
	ewma   EWMA
	spot   DSPOT
	cusum  CUSUM
	rules  []RuleState
	fusion seriesFusion
	last   [4]float64
	score  float64
}

// NewSeries returns the detectors for the series called name; cfg must be
// valid (see Config.Validate) and its Rules must not change while the Series
// is in use.
func NewSeries(cfg *Config, name string) Series {
	c := cfg.withDefaults()
	w := c.Fusion.Weights
	s := Series{fusion: seriesFusion{method: c.Fusion.Series, calibrate: *c.Fusion.Calibrate, weights: [4]float64{*w.EWMA, *w.SPOT, *w.CUSUM, *w.Rules}}}
	if s.fusion.weights[0] > 0 {
		s.ewma = NewEWMA(c.EWMA)
	}
	if s.fusion.weights[1] > 0 {
		s.spot = NewDSPOT(c.SPOT)
	}
	if s.fusion.weights[2] > 0 {
		s.cusum = NewCUSUM(c.CUSUM)
	}
	if s.fusion.weights[3] > 0 {
		for i := range cfg.Rules {
			if cfg.Rules[i].Series == name {
				s.rules = append(s.rules, NewRuleState(&cfg.Rules[i]))
			}
		}
	}
	return s
}

// Push feeds the sample x observed at time t (any monotonic clock; only
// rules use it) to every enabled detector and returns the fused score.
// NaN is missing.
func (s *Series) Push(t time.Duration, x float64) float64 {
	w := &s.fusion.weights
	if w[0] > 0 {
		s.last[0] = s.ewma.Push(x)
	}
	if w[1] > 0 {
		s.last[1] = s.spot.Push(x)
	}
	if w[2] > 0 {
		s.last[2] = s.cusum.Push(x)
	}
	if s.fusion.calibrate && !math.IsNaN(x) {
		for i := range s.cal {
			if w[i] > 0 {
				s.last[i] = s.cal[i].push(s.last[i])
			}
		}
	}
	if len(s.rules) > 0 {
		r := 0.0
		for i := range s.rules {
			if s.rules[i].Push(t, x) > r {
				r = 1
			}
		}
		s.last[3] = r
	}
	s.score = Fuse(s.fusion.method, s.last[:], w[:])
	return s.score
}

// Score returns the fused score of the last Push.
func (s *Series) Score() float64 { return s.score }

// Scores returns each detector's last score.
func (s *Series) Scores() DetectorScores {
	return DetectorScores{EWMA: s.last[0], SPOT: s.last[1], CUSUM: s.last[2], Rules: s.last[3]}
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
