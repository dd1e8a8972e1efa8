package main

import (
	"math"
	"testing"
)

func bools(s string) []bool {
	out := make([]bool, len(s))
	for i, c := range s {
		out[i] = c == '1'
	}
	return out
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		flags, labels           string
		tp, fp, fn, segs, found int
		delaySum, falseAlarms   int
	}{
		// Two segments: the first found 2 rows late, the second missed; one
		// false-alarm run of two points, one flagged run touching a segment.
		{"0001100011000000", "0111110000001110", 2, 2, 6, 2, 1, 2, 1},
		{"0000", "0000", 0, 0, 0, 0, 0, 0, 0},
		{"1111", "0110", 2, 2, 0, 1, 1, 0, 0}, // one run overlapping the segment: no false alarm
		{"1010", "0000", 0, 2, 0, 0, 0, 0, 2},
	}
	for _, tc := range cases {
		m := evaluate(bools(tc.flags), bools(tc.labels))
		if m.tp != tc.tp || m.fp != tc.fp || m.fn != tc.fn || m.segs != tc.segs || m.found != tc.found ||
			m.delaySum != tc.delaySum || m.falseAlarms != tc.falseAlarms {
			t.Errorf("flags %s labels %s: %+v", tc.flags, tc.labels, m)
		}
	}
	m := evaluate(bools("0110"), bools("0100"))
	if math.Abs(m.precision()-0.5) > 1e-12 || m.recall() != 1 || math.Abs(m.f1()-2.0/3) > 1e-12 {
		t.Errorf("P %v R %v F1 %v", m.precision(), m.recall(), m.f1())
	}
	if got := m.days; math.Abs(got-4.0*5/1440) > 1e-12 {
		t.Errorf("days %v", got)
	}
}

func TestOracleThreshold(t *testing.T) {
	scores := []float64{0.1, 0.9, 0.8, 0.2, 0.7, 0.3}
	labels := bools("011010")
	if th := oracleThreshold(scores, labels); th != 0.7 {
		t.Errorf("oracle threshold = %v, want 0.7 (flags exactly the labelled points)", th)
	}
	// A lone top score on a normal point: cutting below the positives wins.
	scores = []float64{0.95, 0.6, 0.6, 0.1}
	labels = bools("0110")
	if th := oracleThreshold(scores, labels); th != 0.6 {
		t.Errorf("oracle threshold = %v, want 0.6", th)
	}
}

func TestTrainZScores(t *testing.T) {
	train := [][]float64{{0, 10}, {2, 10}, {0, 10}, {2, 10}}
	s := trainZScores(train, [][]float64{{1, 10}, {4, 10}, {1, 10.5}}, 0.01)
	// Column 0: mean 1, std 1; column 1: constant, std floored at 0.01.
	if s[0] != 0 || math.Abs(s[1]-3) > 1e-12 || math.Abs(s[2]-50) > 1e-9 {
		t.Errorf("z = %v", s)
	}
	if q := squash([]float64{3, 0}); q[0] != 0.5 || q[1] != 0 {
		t.Errorf("squash = %v", q)
	}
}

func TestWindowedGaussian(t *testing.T) {
	rows := make([][]float64, 0, 40)
	for i := 0; i < 40; i++ {
		rows = append(rows, []float64{float64(i % 2), 5})
	}
	rows[30] = []float64{10, 5}
	s := windowedGaussian(nil, rows, 10, 0.01)
	if s[5] != 0 {
		t.Errorf("score before the window fills = %v", s[5])
	}
	// Window of 0/1 alternating: mean 0.5, std 0.5; 10 is z = 19.
	if math.Abs(s[30]-19) > 1e-9 || s[29] > 1.0000001 {
		t.Errorf("s[29] = %v, s[30] = %v", s[29], s[30])
	}
}
