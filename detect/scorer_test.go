package detect

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigErrorsNameTheField(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{"spot: {q: 2}", "spot.q"},
		{"spot: {init: 5000}", "spot.init"},
		{"ewma: {alpha: 1.5}", "ewma.alpha"},
		{"cusum: {h: -1}", "cusum.h"},
		{"pca: {components: 99}", "pca.components"},
		{"dist: {tail_count: 1}", "dist.tail_count"},
		{"dist: {alpha: 2}", "dist.alpha"},
		{"fusion: {weights: {dist: -1}}", "fusion.weights.dist"},
		{"fusion: {series: sidakk}", "fusion.series"},
		{"fusion: {host: avg}", "fusion.host"},
		{"fusion: {weights: {pca: 2}}", "fusion.weights.pca"},
		{"fusion: {smooth: 40}", "fusion.smooth"},
		{"sample_interval: -1s", "sample_interval"},
		{"rules: [{name: a, series: x, op: '>', threshold: 1, clear: 3}]", "rules[0].clear"},
		{"ewmaa: {alpha: 0.1}", "ewmaa"},
	}
	for _, tc := range cases {
		_, err := LoadConfig([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to name %q", tc.yaml, err, tc.want)
		}
	}
	c, err := LoadConfig(nil)
	if err != nil {
		t.Fatalf("empty config: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestScorerRuleMustNameAColumn(t *testing.T) {
	cfg, err := LoadConfig([]byte("rules: [{name: a, series: nope, op: '>', threshold: 1}]"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewScorer(cfg, []string{"cpu"}); err == nil || !strings.Contains(err.Error(), "rules[0].series") {
		t.Errorf("err = %v", err)
	}
}

// hostRows returns n rows of d correlated series with a daily-like cycle.
func hostRows(seed uint64, n, d int) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 3))
	rows := make([][]float64, n)
	for i := range rows {
		base := 50 + 20*math.Sin(float64(i)/100)
		row := make([]float64, d)
		for j := range row {
			row[j] = base*(1+0.1*float64(j)) + r.NormFloat64()
		}
		rows[i] = row
	}
	return rows
}

func TestScorerStreamingAndRange(t *testing.T) {
	rows := hostRows(1, 3000, 5)
	cols := []string{"a", "b", "c", "d", "e"}
	full, err := NewScorer(DefaultConfig(), cols)
	if err != nil {
		t.Fatal(err)
	}
	prefix, _ := NewScorer(DefaultConfig(), cols)
	var fullScores []float64
	for i, r := range rows {
		s := full.Score(time.Duration(i)*time.Second, r)
		if !(s >= 0 && s <= 1) {
			t.Fatalf("row %d: score %v", i, s)
		}
		for j, c := range full.ColumnScores() {
			if !(c >= 0 && c <= 1) {
				t.Fatalf("row %d col %d: score %v", i, j, c)
			}
		}
		fullScores = append(fullScores, s)
	}
	// Row i's score depends only on rows ≤ i: scoring a prefix gives the
	// same scores.
	for i, r := range rows[:1700] {
		if s := prefix.Score(time.Duration(i)*time.Second, r); s != fullScores[i] {
			t.Fatalf("row %d: %v on the prefix, %v on the full stream", i, s, fullScores[i])
		}
	}
}

func TestScorerFlagsInjectedAnomaly(t *testing.T) {
	rows := hostRows(2, 4000, 4)
	sc, err := NewScorer(DefaultConfig(), []string{"a", "b", "c", "d"})
	if err != nil {
		t.Fatal(err)
	}
	fp := 0
	for i, r := range rows[:3500] {
		if s := sc.Score(time.Duration(i)*time.Second, r); i > 1500 && s >= flagAt {
			fp++
		}
	}
	if rate := float64(fp) / 2000; rate > maxFPRate {
		t.Errorf("normal rows: false-positive rate %.4f > %.4f", rate, maxFPRate)
	}
	hit := false
	for i, r := range rows[3500:3510] {
		r[2] += 40 // one series jumps by 40σ
		if sc.Score(time.Duration(3500+i)*time.Second, r) >= flagAt {
			hit = true
		}
	}
	if !hit {
		t.Error("a 40σ jump in one series was not flagged")
	}
}

func TestScorerDoesNotAllocate(t *testing.T) {
	rows := hostRows(3, 200, 6)
	sc, _ := NewScorer(DefaultConfig(), []string{"a", "b", "c", "d", "e", "f"})
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		sc.Score(time.Duration(i)*time.Second, rows[i%len(rows)])
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per row", allocs)
	}
}

func TestScorerRulesAndConstantColumns(t *testing.T) {
	cfg, err := LoadConfig([]byte(`
fusion: {weights: {ewma: 0, spot: 0, cusum: 0, pca: 0}}
rules: [{name: hot, series: cpu, op: ">", threshold: 90, for: 2s}]`))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := NewScorer(cfg, []string{"cpu", "flat"})
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for i, v := range []float64{50, 95, 95, 95, 50} {
		got = append(got, sc.Score(time.Duration(i)*time.Second, []float64{v, 7}))
	}
	want := []float64{0, 0, 0, 1, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("scores %v, want %v", got, want)
		}
	}
}
