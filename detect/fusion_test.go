package detect

import (
	"math"
	"strings"
	"testing"
)

func nan() float64 { return math.NaN() }

func TestFuse(t *testing.T) {
	cases := []struct {
		m       FuseMethod
		scores  []float64
		weights []float64
		want    float64
	}{
		{FuseMax, []float64{0.2, 0.9, 0.5}, nil, 0.9},
		{FuseMax, []float64{0.2, 0.9, 0.5}, []float64{1, 0.5, 1}, 0.5},
		{FuseMax, nil, nil, 0},
		{FuseMean, []float64{0.2, 0.8}, nil, 0.5},
		{FuseMean, []float64{0.2, 0.8}, []float64{3, 1}, 0.35},
		{FuseMean, []float64{0.2, nan()}, nil, 0.2},
		{FuseMean, []float64{0.5}, []float64{0}, 0},
		{FuseNoisyOr, []float64{0.5, 0.5}, nil, 0.75},
		{FuseNoisyOr, []float64{0.5, 0.5}, []float64{1, 0}, 0.5},
		{FuseNoisyOr, []float64{1, 0.1}, nil, 1},
		{FuseMax, []float64{1.7, -3}, nil, 1}, // out-of-range inputs clamp
	}
	for _, tc := range cases {
		if got := Fuse(tc.m, tc.scores, tc.weights); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Fuse(%s, %v, %v) = %v, want %v", tc.m, tc.scores, tc.weights, got, tc.want)
		}
	}
	if err := FuseMethod("avg").Validate(); err == nil {
		t.Error("unknown method validated")
	}
}

func TestIncidentTrackerNoStorm(t *testing.T) {
	tr := NewIncidentTracker(IncidentConfig{Open: 0.8, Close: 0.5, OpenAfter: 3, CloseAfter: 5})
	// A flapping anomaly: high, dips to the middle band and briefly below
	// close, high again, then quiet.
	scores := []float64{0.1, 0.9, 0.95, 0.2, 0.9, 0.9, 0.9, 0.6, 0.9, 0.4, 0.3, 0.9, 0.85, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4, 0.1}
	var opened, closed []int
	for i, s := range scores {
		switch tr.Push(s) {
		case Opened:
			opened = append(opened, i)
		case Closed:
			closed = append(closed, i)
		}
	}
	if len(opened) != 1 || opened[0] != 6 || len(closed) != 1 || closed[0] != 18 {
		t.Errorf("opened at %v, closed at %v; want one open at 6 and one close at 18", opened, closed)
	}
	if tr.Active() {
		t.Error("still active")
	}
	if err := (IncidentConfig{Open: 0.5, Close: 0.6}).Validate(); err == nil || !strings.Contains(err.Error(), "close") {
		t.Errorf("close > open: err %v", err)
	}
}
