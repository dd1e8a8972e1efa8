package detect

import (
	"fmt"
	"math"
	"slices"
	"unsafe"
)

// distKnots is the number of quantiles a [Dist] keeps.
const distKnots = 32

// DistConfig configures a [Dist] detector. The zero value of a field means
// its default.
type DistConfig struct {
	// TailCount is k: the exponential tails are fitted to the k most
	// extreme training values on each side and start at the tail level
	// τ = k/n (n training values; k is lowered to n/10 for short training
	// sets). Default 30; range [2, 10000].
	TailCount int `yaml:"tail_count"`
	// MinStd floors the tail scales, in the series' unit. Default 0: only
	// the data's own resolution (the smallest gap between distinct values
	// seen) and a 1e-9 relative floor.
	MinStd float64 `yaml:"min_std"`
	// Alpha is the adaptation rate of the quantiles when the detector
	// learns online (no training data): each sample moves each quantile by
	// at most Alpha × the interquartile range. Default 0.005; range (0, 1].
	Alpha float64 `yaml:"alpha"`
}

// DefaultDistConfig returns the defaults documented on [DistConfig].
func DefaultDistConfig() DistConfig {
	return DistConfig{TailCount: 30, Alpha: 0.005}
}

func (c DistConfig) withDefaults() DistConfig {
	d := DefaultDistConfig()
	if c.TailCount == 0 {
		c.TailCount = d.TailCount
	}
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	return c
}

// Validate reports the first field out of range, by its YAML name.
func (c DistConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.TailCount < 2 || c.TailCount > 10000:
		return fmt.Errorf("tail_count: %d out of range [2, 10000]", c.TailCount)
	case !(c.MinStd >= 0 && c.MinStd <= 1e12):
		return fmt.Errorf("min_std: %v out of range [0, 1e12]", c.MinStd)
	case !(c.Alpha > 0 && c.Alpha <= 1):
		return fmt.Errorf("alpha: %v out of range (0, 1]", c.Alpha)
	}
	return nil
}

// Dist scores a sample by how improbable its value is under the series'
// own distribution: a compact summary of the training values (or, without
// training, of the first samples, then adapted online), and the two-sided
// tail probability p of the sample under it. Push returns [TailScore](log p),
// so 0.5 means p = [PRef] and the score keeps growing with the distance
// beyond everything seen: it never saturates at a rank.
//
// The summary is distKnots quantiles at levels evenly spaced in log-odds
// between τ and 1−τ (dense in the tails), with the empirical distribution
// interpolated between them, and an exponential tail beyond each end:
// P(X > x) = τ·exp(−(x − q_hi)/σ_hi) for x beyond the top quantile q_hi,
// σ_hi the mean excess of the k most extreme training values over q_hi
// (the same below). p = min(1, 2·min(P(X ≥ x), P(X ≤ x))).
//
// With [Dist.Fit] (training data) the summary is fixed. Without it, the
// first distKnots samples are kept, sorted and turned into the summary
// (tails start at τ = 1/(2·distKnots), with a Gaussian initial scale:
// 0.356 robust standard deviations, a normal's mean excess there); afterwards every sample moves each
// quantile by a stochastic-gradient step (at most Alpha × the
// interquartile range), and each tail exceedance updates the tail scale,
// so the summary follows slow changes. Samples before the summary exists
// score 0.
//
// State: 344 bytes. Cost per sample (BenchmarkDist): ~110 ns fitted (a
// binary search over distKnots values, two exp, one log), ~240 ns online
// (plus distKnots quantile steps).
type Dist struct {
	q        [distKnots]float64
	a, d     float64 // level(i) = logistic(a + i·d)
	tau      float64
	sHi, sLo float64 // exponential tail scales
	floor    float64
	alpha    float64
	n        uint32 // samples learned online
	i25, i75 uint8  // knots nearest the quartiles
	trained  bool
	ready    bool
	tailK    int32
	logp     float64
	score    float64
}

// NewDist returns a Dist learning online until Fit is called.
func NewDist(cfg DistConfig) Dist {
	c := cfg.withDefaults()
	return Dist{floor: c.MinStd, alpha: c.Alpha, tailK: int32(c.TailCount)}
}

// level returns the quantile level at fractional knot position pos.
func (d *Dist) level(pos float64) float64 {
	return 1 / (1 + math.Exp(-(d.a + pos*d.d)))
}

// setLevels sets the knot levels for tail level tau.
func (d *Dist) setLevels(tau float64) {
	d.tau = tau
	d.a = math.Log(tau / (1 - tau))
	d.d = -2 * d.a / (distKnots - 1)
	d.i25 = uint8(math.Round((math.Log(1.0/3) - d.a) / d.d))
	d.i75 = uint8(math.Round((math.Log(3) - d.a) / d.d))
}

// fromSorted sets the knots from sorted values v, reading v as order
// statistics at levels (j+0.5)/len(v), and the resolution floor from the
// smallest gap between distinct values.
func (d *Dist) fromSorted(v []float64) {
	n := float64(len(v))
	for i := range d.q {
		pos := d.level(float64(i))*n - 0.5
		pos = math.Max(0, math.Min(n-1, pos))
		j := int(pos)
		if j >= len(v)-1 {
			d.q[i] = v[len(v)-1]
			continue
		}
		f := pos - float64(j)
		d.q[i] = v[j] + f*(v[j+1]-v[j])
	}
	gap := math.Inf(1)
	for j := 1; j < len(v); j++ {
		if g := v[j] - v[j-1]; g > 0 && g < gap {
			gap = g
		}
	}
	if math.IsInf(gap, 1) {
		gap = 0
	}
	rel := 1e-9 * math.Max(math.Abs(v[0]), math.Abs(v[len(v)-1]))
	d.floor = math.Max(d.floor, math.Max(gap, math.Max(rel, 1e-300)))
}

// Fit replaces the summary with one of the values v (training data; NaNs
// are ignored) and freezes it: later Pushes only score. v is sorted in
// place. With fewer than distKnots values, Fit keeps learning online.
func (d *Dist) Fit(v []float64) {
	v = slices.DeleteFunc(v, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
	if len(v) < distKnots {
		for _, x := range v {
			d.Push(x)
		}
		return
	}
	slices.Sort(v)
	n := len(v)
	if v[0] == v[n-1] {
		d.fitConstant(v[0], n)
		return
	}
	k := min(int(d.tailK), n/10)
	d.setLevels(float64(k) / float64(n))
	d.fromSorted(v)
	hi, lo := d.q[distKnots-1], d.q[0]
	sh, sl := 0.0, 0.0
	for j := 0; j < k; j++ {
		sh += math.Max(0, v[n-1-j]-hi)
		sl += math.Max(0, lo-v[j])
	}
	d.sHi = math.Max(d.floor, sh/float64(k))
	d.sLo = math.Max(d.floor, sl/float64(k))
	d.trained, d.ready = true, true
}

// fitConstant fits training values that all equal v. A different value
// was not seen in n samples: its tail probability starts at 1/(n+1) (the
// rule of succession) and decays with the distance on the scale
// max(MinStd, 1e-3·|v|); when that is 0 (v = 0, no MinStd) there is no
// scale to measure the distance in, and the scale stays +Inf (every other
// value has p = 2/(n+1)) until SetConstantScale gives one.
func (d *Dist) fitConstant(v float64, n int) {
	d.setLevels(1 / float64(n+1))
	for i := range d.q {
		d.q[i] = v
	}
	d.floor = math.Max(d.floor, 1e-3*math.Abs(v))
	if d.floor == 0 {
		d.floor = math.Inf(1)
	}
	d.sHi, d.sLo = d.floor, d.floor
	d.trained, d.ready = true, true
}

// Constant reports whether Fit saw a single distinct value.
func (d *Dist) Constant() bool { return d.trained && d.q[0] == d.q[distKnots-1] }

// Resolution returns the tail-scale floor Fit derived from the data (the
// smallest gap between distinct values, or MinStd): the series' unit of
// change. It is +Inf for a constant series without a scale.
func (d *Dist) Resolution() float64 { return d.floor }

// SetConstantScale gives a Dist fitted to constant values with no scale
// of its own (Resolution +Inf) the tail scale s — e.g. the typical
// resolution of the other series of the same host — so the distance of a
// new value keeps counting. It does nothing otherwise.
func (d *Dist) SetConstantScale(s float64) {
	if d.Constant() && math.IsInf(d.floor, 1) && s > 0 && !math.IsInf(s, 0) {
		d.floor, d.sHi, d.sLo = s, s, s
	}
}

// warmUp turns the first distKnots samples, kept in q, into the summary.
func (d *Dist) warmUp() {
	tmp := d.q
	slices.Sort(tmp[:])
	if tmp[0] == tmp[distKnots-1] {
		// No spread to scale anything by: keep warming up, on half of
		// the samples, until a different value arrives.
		d.n = distKnots / 2
		return
	}
	d.setLevels(0.5 / distKnots)
	d.fromSorted(tmp[:])
	// Until exceedances teach it the tail, assume a Gaussian one: the mean
	// excess of a normal beyond its 1−τ quantile (2.154σ for τ = 1/64) is
	// 0.356σ; σ from the interquartile range.
	sigma := (d.q[d.i75] - d.q[d.i25]) / (normQuantile(d.level(float64(d.i75))) - normQuantile(d.level(float64(d.i25))))
	d.sHi = math.Max(d.floor, 0.356*sigma)
	d.sLo = d.sHi
	d.ready = true
}

// normQuantile is the standard normal quantile function Φ⁻¹(p).
func normQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// Push scores x against the summary, then (online) learns it, and returns
// TailScore(log p). NaN is missing: it scores 0 and changes nothing.
func (d *Dist) Push(x float64) float64 {
	if math.IsNaN(x) {
		d.logp, d.score = 0, 0
		return 0
	}
	if !d.ready {
		d.q[d.n] = x
		d.n++
		if d.n == distKnots {
			d.warmUp()
		}
		d.logp, d.score = 0, 0
		return 0
	}
	d.logp = d.logP(x)
	d.score = TailScore(d.logp)
	if !d.trained {
		d.learn(x)
	}
	return d.score
}

// logP is the log two-sided tail probability of x under the summary.
func (d *Dist) logP(x float64) float64 {
	const last = distKnots - 1
	q := &d.q
	switch {
	case x > q[last]:
		return math.Max(minLogP, math.Log(2*d.tau)-(x-q[last])/d.sHi)
	case x < q[0]:
		return math.Max(minLogP, math.Log(2*d.tau)-(q[0]-x)/d.sLo)
	}
	i, _ := slices.BinarySearch(q[:], x) // first knot ≥ x
	var pLE, pGE float64                 // P(X ≤ x), P(X ≥ x)
	if q[i] > x {
		pos := float64(i-1) + (x-q[i-1])/(q[i]-q[i-1])
		pLE = d.level(pos)
		pGE = 1 - pLE
	} else {
		j := i
		for j < last && q[j+1] == x {
			j++
		}
		pGE, pLE = 1, 1
		if i > 0 {
			pGE = 1 - d.level(float64(i-1))
		}
		if j < last {
			pLE = d.level(float64(j + 1))
		}
	}
	p := 2 * math.Min(pLE, pGE)
	if p >= 1 {
		return 0
	}
	return math.Log(p)
}

// learn moves every quantile one stochastic-gradient step towards x and
// updates the tail scale x exceeds.
func (d *Dist) learn(x float64) {
	const last = distKnots - 1
	d.n++
	if x > d.q[last] {
		d.sHi = math.Max(d.floor, d.sHi+0.05*(math.Min(x-d.q[last], 10*d.sHi)-d.sHi))
	} else if x < d.q[0] {
		d.sLo = math.Max(d.floor, d.sLo+0.05*(math.Min(d.q[0]-x, 10*d.sLo)-d.sLo))
	}
	eta := math.Max(d.alpha, 1/float64(d.n))
	step := eta * math.Max(d.q[d.i75]-d.q[d.i25], d.floor)
	// level(i) = 1/(1 + e^{-a}·r^i), r = e^{-d}.
	e := math.Exp(-d.a)
	r := math.Exp(-d.d)
	for i := range d.q {
		l := 1 / (1 + e)
		if x <= d.q[i] {
			d.q[i] -= step * (1 - l)
		} else {
			d.q[i] += step * l
		}
		if i > 0 && d.q[i] < d.q[i-1] {
			d.q[i] = d.q[i-1]
		}
		e *= r
	}
}

// Score returns the score of the last Push.
func (d *Dist) Score() float64 { return d.score }

// LogP returns the log tail probability of the last Push (0 when it had
// no evidence: missing, or before the summary exists).
func (d *Dist) LogP() float64 { return d.logp }

// Trained reports whether the summary comes from Fit.
func (d *Dist) Trained() bool { return d.trained }

// Footprint reports the state size and the cost per sample.
func (d *Dist) Footprint() Footprint {
	return Footprint{StateBytes: int(unsafe.Sizeof(*d)), PerSample: "O(log 32) search, 2 exp, 1 log; online: +32 quantile steps"}
}

var _ detector = (*Dist)(nil)
