package store

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/redis/go-redis/v9"
)

// A window kept in the layout before chunks is read alongside the chunks;
// a window present in both comes back once, from the chunk.
func TestLegacyReadAlongside(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	b := batch(1, t0+40_000, 1.5)
	if err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	refs, err := s.SeriesOf(ctx, []string{"node_load1"})
	if err != nil || len(refs) != 1 {
		t.Fatalf("SeriesOf = %v, %v", refs, err)
	}
	old := t0 - 20_000 // a window the old layout stored before the upgrade
	same := b.Start + b.Width
	key := s.key("d:", refs[0].ID)
	members := []redis.Z{
		{Score: float64(old), Member: fmt.Sprintf("%d|60000|60|42|0.5|0.9|0.6|0.7|0.7|0.8|0.85", old)},
		{Score: float64(same), Member: fmt.Sprintf("%d|60000|60|999|9|9|9|9", same)},
		{Score: float64(old + 1), Member: "garbage"},
	}
	if err := s.rdb.ZAdd(ctx, key, members...).Err(); err != nil {
		t.Fatal(err)
	}

	// Before Open's scan has seen it (here: the flag is clear), reads skip it.
	s.legacy.Store(false)
	r := s.NewReader()
	pts, err := r.Points(ctx, refs, 0, math.MaxInt64)
	if err != nil || len(pts[0]) != 1 {
		t.Fatalf("without legacy: %v, %v", pts, err)
	}

	s.findLegacy(ctx)
	if !s.legacy.Load() {
		t.Fatal("findLegacy did not see the old key")
	}
	r = s.NewReader()
	pts, err = r.Points(ctx, refs, 0, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	got := pts[0]
	if len(got) != 2 || got[0].End != old || got[1].End != same {
		t.Fatalf("points = %+v", got)
	}
	if got[0].Sum != 42 || !got[0].HasQuantiles || got[0].P99 != 0.85 {
		t.Fatalf("old window = %+v", got[0])
	}
	if got[1].Sum == 999 {
		t.Fatal("the old layout's copy won over the chunk")
	}
	if r.Corrupt != 1 {
		t.Fatalf("Corrupt = %d, want 1 (the garbage member)", r.Corrupt)
	}
}
