package codec

import (
	"math"
	"testing"
)

// TestGridExp: this machine's math.Exp is one of the variants, on every
// code of the grid's range (a machine whose math.Exp is none of them
// still round-trips chunks, with nudges).
func TestGridExp(t *testing.T) {
	v := probeExp()
	q := newQuantizer(chunkPrecision)
	g := newGrid(v)
	differ := 0
	for k := int64(-3000); k <= 3000; k++ {
		if math.Float64bits(g.value(k)) != math.Float64bits(q.value(k)) {
			differ++
		}
	}
	t.Logf("exp variant %d: %d of 6001 grid values differ from math.Exp", v, differ)
	if differ > 0 {
		t.Errorf("variant %d is not this machine's math.Exp", v)
	}
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1e308, 1e308, -745.2, -708.5, 0, -0.0, 1e-300} {
		for v := range nExpVariants {
			got, want := newGrid(v).exp(x), math.Exp(x)
			if !(got == want || math.IsNaN(got) && math.IsNaN(want)) && math.Abs(got-want) > 1e-15*want {
				t.Errorf("variant %d: exp(%v) = %v, want %v", v, x, got, want)
			}
		}
	}
}
