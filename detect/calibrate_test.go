package detect

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestCalBinMonotone(t *testing.T) {
	prevK, prevF := 0, 0.0
	for i := 0; i <= 100000; i++ {
		s := 1 - math.Pow(10, -6*float64(i)/100000) // 0 … 0.999999
		if i == 0 {
			s = 0
		}
		k, f := calBin(s)
		if k < 0 || k >= calBins || f < 0 || f > 1 {
			t.Fatalf("calBin(%v) = %d, %v", s, k, f)
		}
		if k < prevK || (k == prevK && f < prevF-1e-12) {
			t.Fatalf("calBin not monotone at s=%v: (%d, %v) after (%d, %v)", s, k, f, prevK, prevF)
		}
		prevK, prevF = k, f
	}
	for _, s := range []float64{math.SmallestNonzeroFloat64, 1e-17, 1, 2, -1, math.NaN()} {
		if k, _ := calBin(s); k < 0 || k >= calBins {
			t.Errorf("calBin(%v) = %d", s, k)
		}
	}
}

// After a long history, a raw score exceeded by about 1e-3 of the past
// calibrates to about 0.5, a median one to about 0, and the mapping is
// monotone.
func TestCalibrator(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var c calibrator
	raw := func() float64 { z := r.NormFloat64(); return zScore(z, 4) }
	for i := 0; i < 50000; i++ {
		c.push(raw())
	}
	// Gaussian |z| exceeded with probability 1e-3 is 3.29.
	probe := func(z float64) float64 {
		saved := c
		v := c.push(zScore(z, 4))
		c = saved
		return v
	}
	if v := probe(3.29); v < 0.35 || v > 0.65 {
		t.Errorf("|z|=3.29 (tail 1e-3) calibrated to %v, want about 0.5", v)
	}
	if v := probe(0.67); v > 0.05 {
		t.Errorf("median |z| calibrated to %v, want about 0", v)
	}
	prev := -1.0
	for z := 0.0; z < 20; z += 0.05 {
		v := probe(z)
		if v < prev || v < 0 || v > 1 {
			t.Fatalf("not monotone or out of range at z=%v: %v after %v", z, v, prev)
		}
		prev = v
	}
}

func TestFastLog2(t *testing.T) {
	prev := math.Inf(-1)
	for i := 0; i < 200000; i++ {
		x := math.Pow(10, -12+12*float64(i)/200000)
		got := fastLog2(x)
		if math.Abs(got-math.Log2(x)) > 3e-5 {
			t.Fatalf("fastLog2(%v) = %v, want %v", x, got, math.Log2(x))
		}
		if got < prev {
			t.Fatalf("fastLog2 not monotone at %v", x)
		}
		prev = got
	}
}

// A detector stuck at one raw score — even 1 — must calibrate to about 0
// once that score is common, not to "rarer than anything seen".
func TestCalibratorTies(t *testing.T) {
	for _, raw := range []float64{0, 0.3, 0.97, 0.9999, 1} {
		var c calibrator
		var v float64
		for i := 0; i < 5000; i++ {
			v = c.push(raw)
		}
		if v > 0.01 {
			t.Errorf("constant raw score %v calibrates to %v after 5000 samples", raw, v)
		}
	}
}
