package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func columnNames(d int) []string {
	cols := make([]string, d)
	for i := range cols {
		cols[i] = fmt.Sprint("c", i)
	}
	return cols
}

// distOnly is DefaultConfig with every detector but Dist disabled.
func distOnly() Config {
	cfg := DefaultConfig()
	zero := 0.0
	w := &cfg.Fusion.Weights
	w.EWMA, w.SPOT, w.CUSUM, w.PCA = &zero, &zero, &zero, &zero
	return cfg
}

// A sample 10 robust standard deviations out scores at least 0.99 on its
// series, after training (5,000 rows) and, without training, right after
// the warm-up (Dist's first distKnots samples, EWMA's 30), on every one of
// several seeds. The host score, which Šidák-corrects for 4 detectors × d
// series, reaches 0.99 too after training. Right after an untrained
// 32-sample warm-up the tail is extrapolated from 32 samples (exponential,
// scale from the interquartile range) and the worst seeds give p ≈ 1e-9
// per detector, which the correction for 400 inputs turns into a host
// score near 0.94: only ≥ 0.9 is asserted there, and the log shows the
// worst value.
func TestMagnitudeTenSigma(t *testing.T) {
	for _, train := range []bool{true, false} {
		for _, d := range []int{1, 19, 100} {
			t.Run(fmt.Sprintf("train=%v/series=%d", train, d), func(t *testing.T) {
				worstCol, worstHost := 1.0, 1.0
				for seed := uint64(0); seed < 5; seed++ {
					sc, err := NewScorer(DefaultConfig(), columnNames(d))
					if err != nil {
						t.Fatal(err)
					}
					r := rand.New(rand.NewPCG(7+seed, uint64(d)))
					row := make([]float64, d)
					warm := 40
					if train {
						warm = 5000
					}
					for i := 0; i < warm; i++ {
						for j := range row {
							row[j] = 10 + r.NormFloat64()
						}
						if train {
							sc.Train(time.Duration(i)*time.Second, row)
						} else {
							sc.Score(time.Duration(i)*time.Second, row)
						}
					}
					for j := range row {
						row[j] = 10 + r.NormFloat64()
					}
					row[d/2] = 10 + 10 // 10σ
					host := sc.Score(time.Duration(warm)*time.Second, row)
					worstHost = math.Min(worstHost, host)
					worstCol = math.Min(worstCol, sc.ColumnScores()[d/2])
				}
				t.Logf("10σ, worst of 5 seeds: series score %.5f, host score %.5f", worstCol, worstHost)
				wantHost := 0.99
				if !train && d > 1 {
					wantHost = 0.9
				}
				if worstCol < 0.99 || worstHost < wantHost {
					t.Errorf("10σ: series score %.4f (want ≥ 0.99), host score %.4f (want ≥ %.2f)", worstCol, worstHost, wantHost)
				}
			})
		}
	}
}

// Dist alone: scores are monotone in the distance from the bulk, and a
// fitted Dist reaches 0.5 on fresh samples of its training distribution
// at the rate PRef (two-sided, within a factor of 2), for light and heavy
// tails and for quantised values.
func TestDistTailRate(t *testing.T) {
	gens := []struct {
		name string
		gen  func(r *rand.Rand) float64
	}{
		{"normal", func(r *rand.Rand) float64 { return 5 + 2*r.NormFloat64() }},
		{"exponential", func(r *rand.Rand) float64 { return r.ExpFloat64() }},
		{"laplace", func(r *rand.Rand) float64 { return r.ExpFloat64() - r.ExpFloat64() }},
		{"quantised", func(r *rand.Rand) float64 { return math.Round((0.3+0.05*r.NormFloat64())*100) / 100 }},
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 5))
			train := make([]float64, 20000)
			for i := range train {
				train[i] = g.gen(r)
			}
			d := NewDist(DistConfig{})
			d.Fit(train)
			const n = 400000
			hits := 0
			for i := 0; i < n; i++ {
				if d.Push(g.gen(r)) >= 0.5 {
					hits++
				}
			}
			rate := float64(hits) / n
			t.Logf("%s: rate of scores ≥ 0.5 = %.2g (PRef %.0g)", g.name, rate, PRef)
			if rate < PRef/2 || rate > 2*PRef {
				t.Errorf("%s: rate %.2g of scores ≥ 0.5, want within [PRef/2, 2·PRef] = [%.1g, %.1g]", g.name, rate, PRef/2, 2*PRef)
			}
			prev := -1.0
			for k := 0; k <= 40; k++ {
				x := train[len(train)/2] + float64(k)
				if s := d.Push(x); s < prev {
					t.Fatalf("score %.6f at +%d below %.6f at +%d", s, k, prev, k-1)
				} else {
					prev = s
				}
			}
			if prev < 0.99 {
				t.Errorf("far beyond the training range: score %.4f, want ≥ 0.99", prev)
			}
		})
	}
}

// On normal data the host's rate of scores ≥ 0.5 matches PRef whatever the
// number of series: the fusion corrects for the number of inputs instead of
// letting the max over more series inflate (before the correction, 3–9 %
// of normal rows of ~100 series scored ≥ 0.5). With only the distribution
// detector the series inputs are independent and the rate must be PRef
// within a factor of 2 both ways. With every default detector the four
// inputs of a series are correlated (they all judge the same sample), so
// the correction is conservative: only the upper bound 2·PRef is asserted
// (measured here 0 to 6e-4 per row, about PRef/4 on average over seeds;
// a lower bound would need far more
// rows to have any power).
func TestFusedHostRate(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for _, tc := range []struct {
		name     string
		cfg      Config
		d, rows  int
		lo, high float64
	}{
		{"dist", distOnly(), 10, 100000, PRef / 2, 2 * PRef},
		{"dist", distOnly(), 100, 60000, PRef / 2, 2 * PRef},
		{"dist", distOnly(), 500, 40000, PRef / 2, 2 * PRef},
		{"default", DefaultConfig(), 10, 40000, 0, 2 * PRef},
		{"default", DefaultConfig(), 100, 20000, 0, 2 * PRef},
		{"default", DefaultConfig(), 500, 8000, 0, 2 * PRef},
	} {
		t.Run(fmt.Sprintf("%s/series=%d", tc.name, tc.d), func(t *testing.T) {
			sc, err := NewScorer(tc.cfg, columnNames(tc.d))
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(11, uint64(tc.d)))
			row := make([]float64, tc.d)
			const train = 5000
			for i := 0; i < train; i++ {
				for j := range row {
					row[j] = 100 + 5*r.NormFloat64()
				}
				sc.Train(time.Duration(i)*time.Second, row)
			}
			hits := 0
			for i := 0; i < tc.rows; i++ {
				for j := range row {
					row[j] = 100 + 5*r.NormFloat64()
				}
				if sc.Score(time.Duration(train+i)*time.Second, row) >= 0.5 {
					hits++
				}
			}
			rate := float64(hits) / float64(tc.rows)
			t.Logf("%s, %d series: %d of %d rows ≥ 0.5 (rate %.2g, PRef %.0g)", tc.name, tc.d, hits, tc.rows, rate, PRef)
			if rate < tc.lo || rate > tc.high {
				t.Errorf("%s, %d series: host rate %.2g of scores ≥ 0.5, want within [%.2g, %.2g]", tc.name, tc.d, rate, tc.lo, tc.high)
			}
		})
	}
}

// A column constant in training borrows the host's resolution: the same
// value scores 0; one quantum away was never seen in 5,000 rows (p ≈
// 2/5001·e⁻¹, rarer than PRef but not extreme); ten quanta away is
// certain; and a series constant at start does not score every later
// change as certain (Dist keeps warming up until the values spread).
func TestDistConstantColumns(t *testing.T) {
	sc, err := NewScorer(distOnly(), []string{"varying", "constant"})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		sc.Train(0, []float64{math.Round((0.5+0.1*r.NormFloat64())*100) / 100, 0})
	}
	for _, tc := range []struct {
		x        float64
		min, max float64
	}{{0, 0, 0.01}, {0.01, 0.5, 0.9}, {0.1, 0.99, 1}} {
		sc.Score(0, []float64{0.5, tc.x})
		if s := sc.ColumnScores()[1]; s < tc.min || s > tc.max {
			t.Errorf("constant column at %v: score %.4f, want in [%v, %v]", tc.x, s, tc.min, tc.max)
		}
	}

	d := NewDist(DistConfig{})
	for i := 0; i < 100; i++ {
		d.Push(7)
	}
	high := 0
	for i := 0; i < 2000; i++ {
		if d.Push(7+r.NormFloat64()) >= 0.5 {
			high++
		}
	}
	if high > 40 {
		t.Errorf("after a constant start, %d of 2000 normal samples scored ≥ 0.5", high)
	}
}

// With training data the first scored row is already judged against the
// training distribution (no warm-up), NaN cells in training are skipped,
// and a value inside the training range scores low.
func TestScorerTrainFitsDist(t *testing.T) {
	sc, err := NewScorer(DefaultConfig(), []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	for i := 0; i < 3000; i++ {
		b := 20 + 2*r.NormFloat64()
		if i%10 == 0 {
			b = math.NaN()
		}
		sc.Train(time.Duration(i)*time.Second, []float64{r.NormFloat64(), b})
	}
	if s := sc.Score(0, []float64{0.1, 20}); s >= 0.5 {
		t.Errorf("typical row right after training: host score %.3f, want < 0.5", s)
	}
	if !sc.Series(1).Dist().Trained() {
		t.Fatal("column b: Dist not fitted to the training rows")
	}
	if s := sc.Score(time.Second, []float64{0.1, 20 + 2*8}); s < 0.99 {
		t.Errorf("8σ in column b right after training: host score %.4f, want ≥ 0.99", s)
	}
}
