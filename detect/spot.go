package detect

import (
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// SPOTConfig configures [SPOT] and [DSPOT]. The zero value of a field means
// its default.
type SPOTConfig struct {
	// Q is the risk: the probability of a normal sample exceeding the alarm
	// threshold z_q. A sample at z_q scores 0.5. Default 1e-3; range
	// (0, 0.1].
	Q float64 `yaml:"q"`
	// Level is the quantile used as the initial threshold t; excesses over
	// t are the peaks the GPD is fitted to. Default 0.98; range [0.5, 1).
	Level float64 `yaml:"level"`
	// Init is the number of calibration samples before scoring starts.
	// Default 1000; Init·(1-Level) must be at most MaxPeaks/2.
	Init int `yaml:"init"`
	// MaxPeaks bounds the peaks kept per tail (the most recent ones), which
	// bounds state and refit cost. Default 64; range [8, 4096].
	MaxPeaks int `yaml:"max_peaks"`
	// RefitEvery refits the GPD after this many new peaks (the paper refits
	// on every peak). Default 16 (a quarter of the default peak memory);
	// range [1, MaxPeaks].
	RefitEvery int `yaml:"refit_every"`
	// Depth is DSPOT's moving-average window: the detector watches
	// x - mean(last Depth normal samples). Ignored by SPOT. Default 10;
	// range [1, 256].
	Depth int `yaml:"depth"`
	// Upper and Lower select the tails watched; both false means both.
	Upper bool `yaml:"upper"`
	Lower bool `yaml:"lower"`
}

// DefaultSPOTConfig returns the defaults documented on [SPOTConfig].
func DefaultSPOTConfig() SPOTConfig {
	return SPOTConfig{Q: 1e-3, Level: 0.98, Init: 1000, MaxPeaks: 64, RefitEvery: 16, Depth: 10, Upper: true, Lower: true}
}

func (c SPOTConfig) withDefaults() SPOTConfig {
	d := DefaultSPOTConfig()
	if c.Q == 0 {
		c.Q = d.Q
	}
	if c.Level == 0 {
		c.Level = d.Level
	}
	if c.Init == 0 {
		c.Init = d.Init
	}
	if c.MaxPeaks == 0 {
		c.MaxPeaks = d.MaxPeaks
	}
	if c.RefitEvery == 0 {
		c.RefitEvery = d.RefitEvery
	}
	if c.Depth == 0 {
		c.Depth = d.Depth
	}
	if !c.Upper && !c.Lower {
		c.Upper, c.Lower = true, true
	}
	return c
}

// Validate reports the first field out of range, by its YAML name.
func (c SPOTConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case !(c.Q > 0 && c.Q <= 0.1):
		return fmt.Errorf("q: %v out of range (0, 0.1]", c.Q)
	case !(c.Level >= 0.5 && c.Level < 1):
		return fmt.Errorf("level: %v out of range [0.5, 1)", c.Level)
	case c.MaxPeaks < 8 || c.MaxPeaks > 4096:
		return fmt.Errorf("max_peaks: %d out of range [8, 4096]", c.MaxPeaks)
	case c.Init < 10 || c.Init > 1<<30:
		return fmt.Errorf("init: %d out of range [10, 2^30]", c.Init)
	case initPeaks(c.Init, c.Level) > c.MaxPeaks/2:
		return fmt.Errorf("init: %d·(1-level %v) = %d initial peaks, must be at most max_peaks/2 = %d",
			c.Init, c.Level, initPeaks(c.Init, c.Level), c.MaxPeaks/2)
	case initPeaks(c.Init, c.Level) < 2:
		return fmt.Errorf("init: %d·(1-level %v) gives fewer than 2 initial peaks", c.Init, c.Level)
	case c.RefitEvery < 1 || c.RefitEvery > c.MaxPeaks:
		return fmt.Errorf("refit_every: %d out of range [1, max_peaks=%d]", c.RefitEvery, c.MaxPeaks)
	case c.Q >= 1-c.Level:
		return fmt.Errorf("q: %v must be below 1-level = %v", c.Q, 1-c.Level)
	case c.Depth < 1 || c.Depth > 256:
		return fmt.Errorf("depth: %d out of range [1, 256]", c.Depth)
	}
	return nil
}

// initPeaks is the number of calibration samples above the initial threshold.
func initPeaks(init int, level float64) int {
	return int(math.Ceil(float64(init)*(1-level) - 1e-9))
}

// spotTail is one tail of SPOT over v = sign·(x - offset). During
// calibration peaks is a min-heap of the largest values seen; afterwards it
// is a ring of the most recent excesses over t.
type spotTail struct {
	peaks        []float32
	t            float64 // initial threshold, in tail coordinates
	gamma, sigma float64
	zq           float64 // alarm threshold, in tail coordinates
	logRisk      float64 // log(q·n/nt), cached at each fit
	n, nt        uint64  // normal samples and peaks since calibration began
	head, count  uint16
	sinceFit     uint16
	sign         int8
}

// SPOT is the Streaming Peaks-Over-Threshold detector (Siffer et al., KDD
// 2017, Algorithm 1) on one series, optionally on both tails. After Init
// calibration samples it sets t at the Level quantile, fits a generalized
// Pareto distribution to the excesses over t ([FitGPD]) and derives the
// threshold z_q that a normal sample exceeds with probability Q. A sample
// above z_q is an alarm; a sample above t is a new peak. Unlike the paper,
// only the MaxPeaks most recent peaks are kept and the GPD is refitted every
// RefitEvery peaks, which bounds state and cost; and because a bounded
// memory makes the paper's "never learn an alarm" rule collapse the
// threshold, alarms are learned unless their severity exceeds 2 (see
// below).
//
// The severity of a sample x above t is r = log P̂(X>x|X>t) / log(q·n/N_t),
// 0 at t and 1 at z_q (linear in x - t instead when the fitted shape γ is
// negative, whose tail has a finite end point), and the score is
// r²/(1+r²): 0.5 at z_q, 0.8 at twice the severity, graded in between and
// beyond; 0 below t and during calibration.
//
// State per series: 2 tails × (MaxPeaks × 4 bytes) plus 232 bytes; 744
// bytes with the defaults (both tails, 64 peaks). Cost per sample: O(1),
// one pow and one log when the sample is above t; a refit (FitGPD on up to
// MaxPeaks peaks, ~45 µs measured for 64) runs every RefitEvery peaks, and
// peaks are about 2·(1-Level) of samples, so with the defaults the
// amortised cost is ~0.25 µs per sample (BenchmarkSPOT); the worst single
// sample pays one refit.
type SPOT struct {
	upper, lower spotTail
	q, level     float64
	offset       float64 // first sample, subtracted so float32 keeps precision
	score        float64
	seen         uint64 // samples pushed, including missing ones skipped
	init         uint32
	refit        uint16
	useUp, useLo bool
	alarm        bool
	ready        bool
}

// NewSPOT returns a SPOT detector; cfg must be valid (see Validate).
func NewSPOT(cfg SPOTConfig) SPOT {
	cfg = cfg.withDefaults()
	s := SPOT{q: cfg.Q, level: cfg.Level, init: uint32(cfg.Init), refit: uint16(cfg.RefitEvery),
		useUp: cfg.Upper, useLo: cfg.Lower}
	if s.useUp {
		s.upper = spotTail{peaks: make([]float32, 0, cfg.MaxPeaks), sign: 1}
	}
	if s.useLo {
		s.lower = spotTail{peaks: make([]float32, 0, cfg.MaxPeaks), sign: -1}
	}
	return s
}

// Push scores x, then learns it (unless it is an anomaly). NaN and ±Inf are
// missing: they score 0 and change nothing.
func (s *SPOT) Push(x float64) float64 {
	s.score, s.alarm = 0, false
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	s.seen++
	if s.seen == 1 {
		s.offset = x
	}
	v := x - s.offset
	if !s.ready {
		if s.useUp {
			s.upper.calibrate(v)
		}
		if s.useLo {
			s.lower.calibrate(-v)
		}
		if s.seen == uint64(s.init) {
			if s.useUp {
				s.upper.finishCalibration(s.q, s.level, s.init)
			}
			if s.useLo {
				s.lower.finishCalibration(s.q, s.level, s.init)
			}
			s.ready = true
		}
		return 0
	}
	if s.useUp {
		sc, a := s.upper.push(v, s.q, s.refit)
		s.score, s.alarm = sc, a
	}
	if s.useLo {
		sc, a := s.lower.push(-v, s.q, s.refit)
		s.score = math.Max(s.score, sc)
		s.alarm = s.alarm || a
	}
	return s.score
}

// Score returns the score of the last Push.
func (s *SPOT) Score() float64 { return s.score }

// Alarm reports whether the last sample exceeded z_q on a watched tail.
func (s *SPOT) Alarm() bool { return s.alarm }

// Ready reports whether calibration is over.
func (s *SPOT) Ready() bool { return s.ready }

// Thresholds returns the current alarm thresholds z_q in the series' unit:
// NaN for a tail not watched or before calibration ends.
func (s *SPOT) Thresholds() (upper, lower float64) {
	upper, lower = math.NaN(), math.NaN()
	if s.ready && s.useUp {
		upper = s.offset + s.upper.zq
	}
	if s.ready && s.useLo {
		lower = s.offset - s.lower.zq
	}
	return upper, lower
}

// Footprint reports the state size and cost per sample.
func (s *SPOT) Footprint() Footprint {
	return Footprint{
		StateBytes: int(unsafe.Sizeof(*s)) + 4*(cap(s.upper.peaks)+cap(s.lower.peaks)),
		PerSample:  "O(1): 1 pow + 1 log above t; amortised refit O(max_peaks)·60 logs every refit_every peaks",
	}
}

// calibrate keeps the largest values in a min-heap of cap(peaks).
func (t *spotTail) calibrate(v float64) {
	h := t.peaks
	f := float32(v)
	if len(h) < cap(h) {
		h = append(h, f)
		for i := len(h) - 1; i > 0; {
			p := (i - 1) / 2
			if h[p] <= h[i] {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		t.peaks = h
		return
	}
	if f <= h[0] {
		return
	}
	h[0] = f
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l] < h[m] {
			m = l
		}
		if r < len(h) && h[r] < h[m] {
			m = r
		}
		if m == i {
			break
		}
		h[m], h[i] = h[i], h[m]
		i = m
	}
}

// finishCalibration sets t at the level quantile of the calibration samples
// and turns the heap into the ring of excesses over t.
func (t *spotTail) finishCalibration(q, level float64, init uint32) {
	h := t.peaks
	slices.Sort(h) // ascending; h holds the len(h) largest samples
	r := initPeaks(int(init), level)
	idx := len(h) - 1 - r
	if idx < 0 {
		idx = 0
	}
	t.t = float64(h[idx])
	m := 0
	for _, v := range h[idx+1:] {
		if e := float64(v) - t.t; e > 0 {
			h[m] = float32(e)
			m++
		}
	}
	t.peaks = h[:cap(h)]
	t.count = uint16(m)
	t.head = uint16(m % cap(h))
	t.n = uint64(init)
	t.nt = uint64(m)
	t.fit(q)
}

// fit refits the GPD on the peaks and recomputes z_q.
func (t *spotTail) fit(q float64) {
	t.sinceFit = 0
	if t.nt == 0 || t.count == 0 {
		// No peaks at all: nothing above t was ever seen; alarm just above t.
		t.gamma, t.sigma = 0, 0
		t.zq = t.t
		t.logRisk = math.Log(q)
		return
	}
	g, sg, err := fitGPD(t.peaks[:t.count])
	if err != nil {
		// One peak (or all equal): exponential with the mean excess.
		g, sg = 0, meanOf(t.peaks[:t.count])
	}
	t.gamma, t.sigma = g, sg
	t.zq = gpdQuantile(q, t.t, g, sg, float64(t.n), float64(t.nt))
	t.logRisk = math.Log(q * float64(t.n) / float64(t.nt))
}

func meanOf(p []float32) float64 {
	s := 0.0
	for _, v := range p {
		s += float64(v)
	}
	return s / float64(len(p))
}

// severity is log P̂(X>t+e | X>t) / log(q·n/N_t): 0 at t, 1 at z_q. With a
// negative shape the fitted tail has a finite end point beyond which that
// is +Inf; there (γ < 0) the severity is the linear e/(z_q - t) instead, so
// scores stay graded for samples beyond anything seen.
func (t *spotTail) severity(e float64) float64 {
	if !(t.sigma > 0) || !(t.logRisk < 0) {
		return math.Inf(1)
	}
	if t.gamma < 0 {
		return e / (t.zq - t.t)
	}
	return math.Log(gpdTail(e, t.gamma, t.sigma)) / t.logRisk
}

// learnSeverity is the severity above which a peak is not learned. The
// paper learns no sample above z_q (severity 1); with a bounded memory of
// recent peaks that truncation feeds back — each refit on a tail cut at
// z_q lowers z_q — and the threshold collapses towards t. Learning alarms
// up to twice the threshold severity keeps the fit honest while a gross
// outlier still cannot drag the tail out.
const learnSeverity = 2

// push scores v and learns it; it returns the score and whether v > z_q.
func (t *spotTail) push(v, q float64, refit uint16) (float64, bool) {
	if !(v > t.t) {
		t.n++
		return 0, false
	}
	e := v - t.t
	r := t.severity(e)
	score := severityScore(r)
	alarm := v > t.zq
	if r > learnSeverity && t.sigma > 0 {
		// Far beyond z_q: not learned (Algorithm 1). Without a fitted tail
		// (no peaks yet) the sample is learned whatever its score.
		return score, alarm
	}
	t.n++
	t.nt++
	t.peaks[t.head] = float32(e)
	t.head++
	if int(t.head) == len(t.peaks) {
		t.head = 0
	}
	if int(t.count) < len(t.peaks) {
		t.count++
	}
	t.sinceFit++
	if t.sinceFit >= refit || (t.sigma == 0 && t.count >= 2) {
		t.fit(q)
	}
	return score, alarm
}
