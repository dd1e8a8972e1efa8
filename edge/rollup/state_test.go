package rollup

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgepulse/edgepulse/codec"
)

type sample struct {
	ts int64
	v  float64
}

// exactQuantile is the q-quantile of sorted under DDSketch's definition:
// rank r = q·(n−1); the sample at ⌊r⌋ when that rank falls in the zeros or
// positive values, and at min(⌈r⌉, negatives−1) when it falls in the
// negative values (the negative store is walked by magnitude from the other
// end, which rounds the rank up).
func exactQuantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	r := q * float64(n-1)
	neg := 0
	for neg < n && sorted[neg] < 0 {
		neg++
	}
	if r < float64(neg) {
		return sorted[min(int(math.Ceil(r)), neg-1)]
	}
	return sorted[int(math.Floor(r))]
}

func TestExactQuantile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []float64
		q      float64
		want   float64
	}{
		{"positive median odd", []float64{1, 2, 3}, 0.5, 2},
		{"positive rounds down", []float64{1, 2, 3, 4}, 0.5, 2},
		{"positive max", []float64{1, 2, 3, 4}, 1, 4},
		{"positive min", []float64{1, 2, 3, 4}, 0, 1},
		{"negative rounds up", []float64{-4, -3, -2, -1}, 0.5, -2},
		{"negative min", []float64{-4, -3, -2, -1}, 0, -4},
		{"rank between last negative and zero", []float64{-2, -1, 0, 5}, 0.5, -1},
		{"zero", []float64{-1, 0, 0, 5}, 0.5, 0},
		{"single", []float64{7}, 0.99, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exactQuantile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("exactQuantile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
}

// withinRelative reports whether est is within acc of exact, relative to
// |exact|, with a little slack for float rounding in the mapping.
func withinRelative(est, exact, acc float64) bool {
	return math.Abs(est-exact) <= acc*math.Abs(exact)*(1+1e-9)+1e-300
}

var distributions = []struct {
	name string
	gen  func(r *rand.Rand) float64
}{
	{"uniform", func(r *rand.Rand) float64 { return 100 * r.Float64() }},
	{"exponential", func(r *rand.Rand) float64 { return r.ExpFloat64() }},
	{"lognormal", func(r *rand.Rand) float64 { return 50 * math.Exp(r.NormFloat64()) }},
	{"lognormal wide", func(r *rand.Rand) float64 { return math.Exp(15 * r.NormFloat64()) }},
	{"constant", func(r *rand.Rand) float64 { return 0.37 }},
	{"normal around zero", func(r *rand.Rand) float64 { return 10 * r.NormFloat64() }},
	{"all negative", func(r *rand.Rand) float64 { return -1 - 1000*r.Float64() }},
	{"zeros and values", func(r *rand.Rand) float64 {
		switch r.IntN(3) {
		case 0:
			return 0
		case 1:
			return -r.ExpFloat64()
		}
		return r.ExpFloat64()
	}},
	{"tiny", func(r *rand.Rand) float64 { return 1e-9 * (1 + r.Float64()) }},
	{"huge", func(r *rand.Rand) float64 { return 1e300 * (1 + r.Float64()) }},
}

var quantileLevels = []float64{0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1}

func TestQuantileRelativeError(t *testing.T) {
	for _, acc := range []float64{0.01, 0.05, 0.001} {
		cfg, err := NewSketchConfig(acc)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range distributions {
			for _, n := range []int{1, 2, 60, 1000} {
				r := rand.New(rand.NewPCG(uint64(n), 42))
				st := cfg.NewState()
				vals := make([]float64, n)
				for i := range vals {
					vals[i] = d.gen(r)
					st.Add(int64(i*1000), vals[i])
				}
				slices.Sort(vals)
				for _, q := range quantileLevels {
					est, ok := st.Quantile(q)
					exact := exactQuantile(vals, q)
					if !ok || !withinRelative(est, exact, acc) {
						t.Errorf("acc %v, %s, n=%d: q%v = %v (ok %v), exact %v, relative error %.3g",
							acc, d.name, n, q, est, ok, exact, math.Abs(est-exact)/math.Abs(exact))
					}
				}
			}
		}
	}
}

// TestQuantileBoundIsTight keeps the accuracy test honest: with a coarse
// sketch the estimates do differ from the exact values (so the comparison
// above checks something), but never by more than the bound.
func TestQuantileBoundIsTight(t *testing.T) {
	cfg, err := NewSketchConfig(0.05)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	st := cfg.NewState()
	vals := make([]float64, 1000)
	for i := range vals {
		vals[i] = 50 * math.Exp(r.NormFloat64())
		st.Add(int64(i), vals[i])
	}
	slices.Sort(vals)
	worst := 0.0
	for q := 0.0; q <= 1; q += 0.001 {
		est, _ := st.Quantile(q)
		exact := exactQuantile(vals, q)
		worst = max(worst, math.Abs(est-exact)/math.Abs(exact))
	}
	if worst <= 0.01 || worst > 0.05*(1+1e-9) {
		t.Errorf("worst relative error %.4f, want in (0.01, 0.05]", worst)
	}
}

func TestQuantilesLevels(t *testing.T) {
	cfg, _ := NewSketchConfig(0.01)
	st := cfg.NewState()
	if got := st.Quantiles(); got != nil {
		t.Errorf("empty State: Quantiles = %v, want nil", got)
	}
	vals := make([]float64, 0, 100)
	for i := 1; i <= 100; i++ {
		st.Add(int64(i), float64(i))
		vals = append(vals, float64(i))
	}
	got := st.Quantiles()
	if len(got) != len(codec.QuantileLevels) {
		t.Fatalf("Quantiles = %v, want %d values", got, len(codec.QuantileLevels))
	}
	for i, q := range codec.QuantileLevels {
		if exact := exactQuantile(vals, q); !withinRelative(got[i], exact, 0.01) {
			t.Errorf("level %v: %v, exact %v", q, got[i], exact)
		}
	}
	var plain State
	plain.Add(1, 1)
	if got := plain.Quantiles(); got != nil {
		t.Errorf("State without sketch: Quantiles = %v, want nil", got)
	}
}

func TestUntrackableValueDropsQuantiles(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		cfg, _ := NewSketchConfig(0.01)
		st := cfg.NewState()
		st.Add(1, 5)
		st.Add(2, v)
		if q, ok := st.Quantile(0.5); ok {
			t.Errorf("after %v: Quantile ok with %v, want not ok", v, q)
		}
		if st.Count != 2 {
			t.Errorf("after %v: Count %d, want 2", v, st.Count)
		}
		// A fresh window (Reset, then Add) has quantiles again.
		st.Reset()
		st.Add(3, 5)
		if q, ok := st.Quantile(0.5); !ok || !withinRelative(q, 5, 0.01) {
			t.Errorf("after Reset: Quantile = %v, %v; want ≈5", q, ok)
		}
	}
}

func TestSketchAllocatedOnFirstSampleAndReused(t *testing.T) {
	cfg, _ := NewSketchConfig(0.01)
	st := cfg.NewState()
	if st.sk != nil {
		t.Fatal("sketch allocated before the first sample")
	}
	st.Add(1, 1)
	if st.sk == nil {
		t.Fatal("no sketch after the first sample")
	}
	r := rand.New(rand.NewPCG(1, 1))
	vals := make([]float64, 60)
	for i := range vals {
		vals[i] = 50 * math.Exp(r.NormFloat64())
	}
	window := func() {
		st.Reset()
		for i, v := range vals {
			st.Add(int64(i*1000), v)
		}
		st.Quantile(0.99)
	}
	window() // grow the sketch's buffers once
	if a := testing.AllocsPerRun(100, window); a != 0 {
		t.Errorf("a reused window allocates %v times, want 0", a)
	}
}

// rollUp adds samples, in order, to a State made from cfg.
func rollUp(cfg *SketchConfig, samples []sample) *State {
	st := cfg.NewState()
	for _, s := range samples {
		st.Add(s.ts, s.v)
	}
	return st
}

func statesEqual(t *testing.T, what string, got, want *State, vals []float64, acc float64) {
	t.Helper()
	if got.Count != want.Count || got.Min != want.Min || got.Max != want.Max ||
		got.First != want.First || got.FirstTS != want.FirstTS ||
		got.Last != want.Last || got.LastTS != want.LastTS {
		t.Fatalf("%s: got %+v, want %+v", what, *got, *want)
	}
	abs := 0.0
	for _, v := range vals {
		abs += math.Abs(v)
	}
	if math.Abs(got.Sum-want.Sum) > 1e-12*abs {
		t.Fatalf("%s: sum %v, want %v", what, got.Sum, want.Sum)
	}
	if want.Count == 0 {
		return
	}
	for _, q := range quantileLevels {
		g, gok := got.Quantile(q)
		w, wok := want.Quantile(q)
		// The merged sketch has exactly the union's bins.
		if !gok || !wok || g != w {
			t.Fatalf("%s: q%v = %v (ok %v), union %v (ok %v)", what, q, g, gok, w, wok)
		}
		if exact := exactQuantile(vals, q); !withinRelative(g, exact, acc) {
			t.Fatalf("%s: q%v = %v, exact %v", what, q, g, exact)
		}
	}
}

// TestMergeEqualsUnion: rolling up two arbitrary parts of a sample set and
// merging gives the roll-up of the whole set, whichever way round and
// whether merged into a part or into an empty State.
func TestMergeEqualsUnion(t *testing.T) {
	const acc = 0.01
	cfg, _ := NewSketchConfig(acc)
	r := rand.New(rand.NewPCG(2026, 11))
	for trial := range 500 {
		d := distributions[r.IntN(len(distributions))]
		n := r.IntN(150)
		all := make([]sample, n)
		for i, ts := range r.Perm(n) { // distinct timestamps, shuffled order
			all[i] = sample{int64(ts) * 1000, d.gen(r)}
		}
		var a, b []sample
		pA := r.Float64() // sometimes (nearly) everything goes to one side
		for _, s := range all {
			if r.Float64() < pA {
				a = append(a, s)
			} else {
				b = append(b, s)
			}
		}
		vals := make([]float64, n)
		for i, s := range all {
			vals[i] = s.v
		}
		slices.Sort(vals)
		want := rollUp(cfg, all)

		ab := rollUp(cfg, a)
		if err := ab.Merge(rollUp(cfg, b)); err != nil {
			t.Fatal(err)
		}
		ba := rollUp(cfg, b)
		if err := ba.Merge(rollUp(cfg, a)); err != nil {
			t.Fatal(err)
		}
		var zero State
		if err := zero.Merge(rollUp(cfg, a)); err != nil {
			t.Fatal(err)
		}
		if err := zero.Merge(rollUp(cfg, b)); err != nil {
			t.Fatal(err)
		}
		name := func(s string) string {
			return fmt.Sprintf("trial %d (%s, %d+%d samples) %s", trial, d.name, len(a), len(b), s)
		}
		statesEqual(t, name("a+b"), ab, want, vals, acc)
		statesEqual(t, name("b+a"), ba, want, vals, acc)
		statesEqual(t, name("0+a+b"), &zero, want, vals, acc)
	}
}

func TestMergeDoesNotAlias(t *testing.T) {
	cfg, _ := NewSketchConfig(0.01)
	o := rollUp(cfg, []sample{{1, 10}, {2, 20}})
	var s State
	if err := s.Merge(o); err != nil {
		t.Fatal(err)
	}
	if s.sk == o.sk {
		t.Fatal("merged State shares the other's sketch")
	}
	o.Add(3, 1e6)
	if q, _ := s.Quantile(1); q > 21 {
		t.Errorf("adding to the source changed the merged sketch: max %v", q)
	}
}

func TestMergeSketchMismatch(t *testing.T) {
	c1, _ := NewSketchConfig(0.01)
	c5, _ := NewSketchConfig(0.05)
	tests := []struct {
		name    string
		s, o    *State
		wantErr error
	}{
		{"different accuracy", rollUp(c1, []sample{{1, 1}}), rollUp(c5, []sample{{2, 2}}), ErrSketchMismatch},
		{"different accuracy into empty", c1.NewState(), rollUp(c5, []sample{{2, 2}}), ErrSketchMismatch},
		{"other without sketch", rollUp(c1, []sample{{1, 1}}), rollUp(nil, []sample{{2, 2}}), nil},
		{"this without sketch", rollUp(nil, []sample{{1, 1}}), rollUp(c1, []sample{{2, 2}}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCount := tt.s.Count + tt.o.Count
			err := tt.s.Merge(tt.o)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Merge error %v, want %v", err, tt.wantErr)
			}
			if tt.s.Count != wantCount || tt.s.Max != 2 {
				t.Errorf("summary not merged: %+v", *tt.s)
			}
			if q := tt.s.Quantiles(); q != nil {
				t.Errorf("Quantiles = %v, want nil: the sketch cannot describe the union", q)
			}
		})
	}
}

func TestMergeEmpty(t *testing.T) {
	cfg, _ := NewSketchConfig(0.01)
	s := rollUp(cfg, []sample{{1, 3}, {2, 4}})
	before := *s
	if err := s.Merge(cfg.NewState()); err != nil {
		t.Fatal(err)
	}
	if *s != before {
		t.Errorf("merging an empty State changed %+v to %+v", before, *s)
	}
}
