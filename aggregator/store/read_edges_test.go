package store

import (
	"context"
	"testing"
)

// TestPointsRangeEdges: a range returns exactly the windows whose End is
// in [mint, maxt], from sealed chunks and open logs alike, including the
// window ending on the hour boundary a range ends at (it is in the hour
// before's block, the only one such a range reads last).
func TestPointsRangeEdges(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	minutes := []int{0, 1, 2, 3, 59, 60, 61}
	for i, m := range minutes {
		if err := s.Apply(ctx, batch(uint64(i+1), t0+int64(m)*60_000, float64(m+1))); err != nil {
			t.Fatal(err)
		}
	}
	// Minute 60 sealed t0's hour; t0+1h's windows are in its open log.
	b := batch(1, t0, 0)
	ref := SeriesRef{Agent: "s1/h1", ID: SeriesID(Canon(b.Series[0].Name, SeriesLabels(b, &b.Series[0])))}
	for _, c := range []struct {
		mint, maxt int64
		ends       []int64 // minutes after t0
	}{
		{t0 + 2*60_000, t0 + 3*60_000, []int64{2, 3}},
		{t0 + 2*60_000 + 1, t0 + 4*60_000 - 1, []int64{3}},
		{t0 + HourMs, t0 + HourMs, []int64{60}},
		{t0 + 59*60_000, t0 + HourMs, []int64{60}},
		{t0 + HourMs - 1, t0 + HourMs + 2*60_000, []int64{60, 61, 62}},
		{t0, t0 + 2*HourMs, []int64{1, 2, 3, 4, 60, 61, 62}},
	} {
		got, err := s.Points(ctx, []SeriesRef{ref}, c.mint, c.maxt)
		if err != nil {
			t.Fatal(err)
		}
		var ends []int64
		for _, p := range got[0] {
			ends = append(ends, (p.End-t0)/60_000)
		}
		if len(ends) != len(c.ends) {
			t.Fatalf("[%d, %d]: window ends %v (minutes), want %v", c.mint-t0, c.maxt-t0, ends, c.ends)
		}
		for i := range ends {
			if ends[i] != c.ends[i] {
				t.Fatalf("[%d, %d]: window ends %v (minutes), want %v", c.mint-t0, c.maxt-t0, ends, c.ends)
			}
		}
	}
}
