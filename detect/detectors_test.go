package detect

import (
	"math"
	"math/rand/v2"
	"testing"
)

// gaussian returns n samples of N(mean, sd²) from a fixed seed.
func gaussian(seed uint64, n int, mean, sd float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + sd*r.NormFloat64()
	}
	return out
}

// withStep adds delta to xs[at:].
func withStep(xs []float64, at int, delta float64) []float64 {
	out := append([]float64(nil), xs...)
	for i := at; i < len(out); i++ {
		out[i] += delta
	}
	return out
}

// withRamp adds slope·(i-at) to xs[at:].
func withRamp(xs []float64, at int, slope float64) []float64 {
	out := append([]float64(nil), xs...)
	for i := at; i < len(out); i++ {
		out[i] += slope * float64(i-at)
	}
	return out
}

// withSpike adds delta to xs[at].
func withSpike(xs []float64, at int, delta float64) []float64 {
	out := append([]float64(nil), xs...)
	out[at] += delta
	return out
}

// The flagging level used in these tests: a score of 0.5 is "at the
// detector's own alarm level" for every detector.
const flagAt = 0.5

// Stationary streams must stay below this false-positive rate (share of
// samples scoring ≥ 0.5 after warm-up).
const maxFPRate = 0.01

type univariate interface {
	Push(float64) float64
}

func TestUnivariateDetectors(t *testing.T) {
	const n, at = 6000, 5000
	base := gaussian(1, n, 100, 2)
	detectors := map[string]func() univariate{
		"ewma":  func() univariate { d := NewEWMA(EWMAConfig{}); return &d },
		"spot":  func() univariate { d := NewSPOT(SPOTConfig{}); return &d },
		"dspot": func() univariate { d := NewDSPOT(SPOTConfig{}); return &d },
		"cusum": func() univariate { d := NewCUSUM(CUSUMConfig{}); return &d },
	}
	cases := []struct {
		name     string
		detector string
		stream   []float64
		// flagWithin: some sample in [at, at+flagWithin) must score ≥ 0.5;
		// 0 means the stream is normal and the false-positive rate applies.
		flagWithin int
	}{
		{"ewma stationary", "ewma", base, 0},
		{"ewma step 10σ", "ewma", withStep(base, at, 20), 3},
		{"ewma spike 10σ", "ewma", withSpike(base, at, 20), 1},
		{"spot stationary", "spot", base, 0},
		{"spot step 10σ", "spot", withStep(base, at, 20), 1},
		{"spot spike -10σ", "spot", withSpike(base, at, -20), 1},
		{"dspot stationary", "dspot", base, 0},
		{"dspot step 10σ", "dspot", withStep(base, at, 20), 1},
		{"dspot slow drift", "dspot", withRamp(base, 1500, 0.002), 0},
		{"cusum stationary", "cusum", base, 0},
		{"cusum step 5σ", "cusum", withStep(base, at, 10), 5},
		{"cusum step -3σ", "cusum", withStep(base, at, -6), 10},
		{"cusum ramp 0.5σ/sample", "cusum", withRamp(base, at, 1), 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := detectors[tc.detector]()
			scores := make([]float64, len(tc.stream))
			for i, x := range tc.stream {
				scores[i] = d.Push(x)
				if !(scores[i] >= 0 && scores[i] <= 1) {
					t.Fatalf("sample %d: score %v outside [0, 1]", i, scores[i])
				}
			}
			if tc.flagWithin == 0 {
				fp := 0
				for _, s := range scores[1500:] {
					if s >= flagAt {
						fp++
					}
				}
				rate := float64(fp) / float64(len(scores)-1500)
				if rate > maxFPRate {
					t.Errorf("false-positive rate %.4f > %.4f", rate, maxFPRate)
				}
				return
			}
			for i := at; i < at+tc.flagWithin; i++ {
				if scores[i] >= flagAt {
					return
				}
			}
			t.Errorf("no score ≥ %v in [%d, %d): %v", flagAt, at, at+tc.flagWithin, scores[at:at+tc.flagWithin])
		})
	}
}

// On a stationary stream SPOT's alarm rate is close to the risk q.
func TestSPOTAlarmRateNearQ(t *testing.T) {
	const q = 1e-3
	xs := gaussian(3, 200000, 0, 1)
	s := NewSPOT(SPOTConfig{Q: q})
	alarms, counted := 0, 0
	for i, x := range xs {
		s.Push(x)
		if i >= 1000 {
			counted++
			if s.Alarm() {
				alarms++
			}
		}
	}
	rate := float64(alarms) / float64(counted)
	if rate > 3*q || rate < q/5 {
		t.Errorf("alarm rate %.5f, want within [q/5, 3q] for q = %v", rate, q)
	}
	up, lo := s.Thresholds()
	if !(up > 2.5 && up < 4.5) || !(lo < -2.5 && lo > -4.5) {
		t.Errorf("thresholds (%.2f, %.2f), want about ±3.1 for N(0,1) at q=1e-3", up, lo)
	}
}

func TestMissingValuesChangeNothing(t *testing.T) {
	xs := gaussian(4, 3000, 5, 1)
	a, b := NewEWMA(EWMAConfig{}), NewEWMA(EWMAConfig{})
	c, d := NewCUSUM(CUSUMConfig{}), NewCUSUM(CUSUMConfig{})
	e, f := NewDSPOT(SPOTConfig{}), NewDSPOT(SPOTConfig{})
	for i, x := range xs {
		if i%7 == 0 {
			for _, m := range []float64{math.NaN(), math.Inf(1)} {
				if b.Push(m) != 0 || d.Push(m) != 0 || f.Push(m) != 0 {
					t.Fatalf("missing value scored non-zero")
				}
			}
		}
		if sa, sb := a.Push(x), b.Push(x); sa != sb {
			t.Fatalf("ewma: sample %d: %v with missing values interleaved vs %v", i, sb, sa)
		}
		if sc, sd := c.Push(x), d.Push(x); sc != sd {
			t.Fatalf("cusum: sample %d: %v vs %v", i, sd, sc)
		}
		if se, sf := e.Push(x), f.Push(x); se != sf {
			t.Fatalf("dspot: sample %d: %v vs %v", i, sf, se)
		}
	}
}

func TestConstantSeries(t *testing.T) {
	for name, d := range map[string]univariate{
		"ewma": func() univariate { d := NewEWMA(EWMAConfig{}); return &d }(),
		"spot": func() univariate { d := NewDSPOT(SPOTConfig{}); return &d }(),
		"cus":  func() univariate { d := NewCUSUM(CUSUMConfig{}); return &d }(),
	} {
		for i := 0; i < 3000; i++ {
			if s := d.Push(42); s != 0 {
				t.Fatalf("%s: constant series scored %v at sample %d", name, s, i)
			}
		}
		if s := d.Push(43); !(s >= flagAt && s <= 1) {
			t.Errorf("%s: change of a constant series scored %v, want in [0.5, 1]", name, s)
		}
	}
}

func TestPCA(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	const n, at = 8000, 7000
	row := make([]float64, 4)
	gen := func(i int, broken bool) []float64 {
		x := math.Sin(float64(i)/50) + 0.3*r.NormFloat64()
		row[0] = x + 0.05*r.NormFloat64()
		row[1] = 2*x + 0.05*r.NormFloat64()
		row[2] = -x + 0.05*r.NormFloat64()
		row[3] = r.NormFloat64() * 0.1
		if broken {
			row[2] = x + 0.05*r.NormFloat64() // same range, wrong sign
		}
		return row
	}
	p := NewPCA(4, PCAConfig{Components: 2})
	fp := 0
	for i := 0; i < at; i++ {
		if s := p.Push(gen(i, false)); i > 1000 && s >= flagAt {
			fp++
		}
	}
	if rate := float64(fp) / (at - 1000); rate > maxFPRate {
		t.Errorf("false-positive rate %.4f > %.4f", rate, maxFPRate)
	}
	flagged := 0
	for i := at; i < at+20; i++ {
		if p.Push(gen(i, true)) >= flagAt {
			flagged++
		}
	}
	if flagged < 10 {
		t.Errorf("correlation break flagged on %d of 20 rows, want ≥ 10", flagged)
	}
	_ = n
}

func TestPCADegenerate(t *testing.T) {
	p := NewPCA(1, PCAConfig{})
	if p.Push([]float64{1}) != 0 || p.Push([]float64{1000}) != 0 {
		t.Error("one-series PCA must score 0")
	}
	q := NewPCA(3, PCAConfig{})
	for i := 0; i < 500; i++ {
		s := q.Push([]float64{1, math.NaN(), float64(i % 3)})
		if math.IsNaN(s) || s < 0 || s > 1 {
			t.Fatalf("row %d: score %v", i, s)
		}
	}
}

// A series constant during calibration that then starts to vary must not
// score high forever: DSPOT learns the new peaks and settles. (Plain SPOT
// keeps its calibration threshold t for good and is not meant for level
// changes.)
func TestDSPOTLearnsAfterConstantCalibration(t *testing.T) {
	s := NewDSPOT(SPOTConfig{})
	for i := 0; i < 1000; i++ {
		s.Push(5)
	}
	xs := gaussian(6, 4000, 6, 0.1)
	high := 0
	for i, x := range xs {
		if s.Push(x) >= flagAt && i >= 2000 {
			high++
		}
	}
	if high > 40 {
		t.Errorf("%d of the last 2000 samples at the new level scored ≥ 0.5", high)
	}
}
