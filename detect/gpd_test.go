package detect

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// gpdSample draws n GPD(γ, σ) variates by inverting the CDF.
func gpdSample(seed uint64, n int, gamma, sigma float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 11))
	out := make([]float64, n)
	for i := range out {
		u := r.Float64()
		if gamma == 0 {
			out[i] = -sigma * math.Log(1-u)
		} else {
			out[i] = sigma / gamma * (math.Pow(1-u, -gamma) - 1)
		}
	}
	return out
}

func TestFitGPDRecoversParameters(t *testing.T) {
	cases := []struct {
		gamma, sigma float64
		n            int
		tolGamma     float64 // absolute
		tolSigma     float64 // relative
	}{
		// Standard errors are about (1+γ)/√n for γ and √(2(1+γ)/n) relative
		// for σ; tolerances are 4 standard errors.
		{0.3, 1, 5000, 0.08, 0.09},
		{0.1, 2, 5000, 0.07, 0.08},
		{0, 0.5, 5000, 0.06, 0.08},
		{-0.2, 1, 5000, 0.05, 0.07},
		{-0.4, 3, 5000, 0.05, 0.07},
		{0.2, 1, 64, 0.6, 0.45}, // SPOT-sized sample
	}
	for _, tc := range cases {
		for seed := uint64(1); seed <= 3; seed++ {
			y := gpdSample(seed, tc.n, tc.gamma, tc.sigma)
			g, s, err := FitGPD(y)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(g-tc.gamma) > tc.tolGamma || math.Abs(s/tc.sigma-1) > tc.tolSigma {
				t.Errorf("GPD(γ=%v, σ=%v), n=%d, seed %d: fitted γ=%.3f σ=%.3f", tc.gamma, tc.sigma, tc.n, seed, g, s)
			}
		}
	}
}

func TestFitGPDEdgeCases(t *testing.T) {
	if _, _, err := FitGPD([]float64{1}); !errors.Is(err, ErrTooFewPeaks) {
		t.Errorf("one peak: err %v, want ErrTooFewPeaks", err)
	}
	if _, _, err := FitGPD([]float64{0, -1, math.NaN()}); !errors.Is(err, ErrTooFewPeaks) {
		t.Errorf("no positive peaks: err %v, want ErrTooFewPeaks", err)
	}
	g, s, err := FitGPD([]float64{2, 2, 2})
	if err != nil || g != 0 || s != 2 {
		t.Errorf("equal peaks: γ=%v σ=%v err=%v, want exponential with σ = 2", g, s, err)
	}
	// The fit must be a proper MLE: γ ≥ -1.
	for seed := uint64(1); seed < 50; seed++ {
		y := gpdSample(seed, 20, -0.5, 1)
		if g, s, err := FitGPD(y); err != nil || g < -1 || !(s > 0) {
			t.Fatalf("seed %d: γ=%v σ=%v err=%v", seed, g, s, err)
		}
	}
}

// The quantile and tail helpers invert each other.
func TestGPDQuantileTail(t *testing.T) {
	for _, g := range []float64{-0.3, 0, 0.4} {
		const t0, sigma, n, nt, q = 2.0, 0.7, 1000.0, 20.0, 1e-4
		z := gpdQuantile(q, t0, g, sigma, n, nt)
		p := nt / n * gpdTail(z-t0, g, sigma)
		if math.Abs(p/q-1) > 1e-9 {
			t.Errorf("γ=%v: tail at z_q = %v, want q = %v", g, p, q)
		}
	}
}
