package store

import (
	"context"
	"reflect"
	"testing"

	"github.com/edgepulse/edgepulse/codec"
)

// TestDecodedCache: a second query of a sealed hour takes its chunks
// decoded from the cache and answers the same; a late window appended to
// the chunk changes its bytes, so the next query decodes it again and
// sees the window.
func TestDecodedCache(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	for m := range 5 {
		if err := s.Apply(ctx, batch(uint64(m+1), t0+int64(m)*60_000, float64(m+1))); err != nil {
			t.Fatal(err)
		}
	}
	// The next hour's first frame seals t0's hour into chunks.
	if err := s.Apply(ctx, batch(6, t0+HourMs, 9)); err != nil {
		t.Fatal(err)
	}
	b := batch(1, t0, 0)
	ref := SeriesRef{Agent: "s1/h1", ID: SeriesID(Canon(b.Series[0].Name, SeriesLabels(b, &b.Series[0])))}
	query := func() []Point {
		t.Helper()
		got, err := s.Points(ctx, []SeriesRef{ref}, t0, t0+HourMs-1)
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	first := query()
	st := s.DecodedCacheStats()
	if len(first) != 5 || st.Misses == 0 || st.Windows == 0 {
		t.Fatalf("first query: %d windows, cache %+v", len(first), st)
	}
	second := query()
	st2 := s.DecodedCacheStats()
	if !reflect.DeepEqual(first, second) || st2.Hits <= st.Hits || st2.Misses != st.Misses {
		t.Fatalf("second query: same %v, cache %+v after %+v", reflect.DeepEqual(first, second), st2, st)
	}
	// A late window of the sealed hour.
	if err := s.Apply(ctx, batch(7, t0+30*60_000, 42)); err != nil {
		t.Fatal(err)
	}
	third := query()
	st3 := s.DecodedCacheStats()
	if len(third) != 6 || third[5].Last != 42 || st3.Misses <= st2.Misses {
		t.Fatalf("after a late window: %d windows (last %v), cache %+v", len(third), third[len(third)-1], st3)
	}
	s.DropDecodedCache()
	if st := s.DecodedCacheStats(); st.Windows != 0 {
		t.Fatalf("dropped cache holds %d windows", st.Windows)
	}
}

// TestDecodedCacheBound: the cache holds at most its bound of windows,
// evicting the least recently used chunks, and counts what it evicts.
func TestDecodedCacheBound(t *testing.T) {
	c := newDecodedCache(10)
	ws := func(n int) []codec.Window { return make([]codec.Window, n) }
	c.put("a", []byte("1"), ws(4), 0)
	c.put("b", []byte("2"), ws(4), 0)
	if _, _, ok := c.get("a", []byte("1")); !ok { // a is now the most recent
		t.Fatal("a not held")
	}
	c.put("c", []byte("3"), ws(4), 0) // 12 > 10: b goes
	if _, _, ok := c.get("b", []byte("2")); ok {
		t.Fatal("b held past the bound")
	}
	if _, _, ok := c.get("a", []byte("changed")); ok {
		t.Fatal("a answered for other bytes")
	}
	c.put("d", []byte("4"), ws(11), 0) // larger than the bound: not kept
	if c.n > 10 || c.evictions.Load() != 1 || c.n != 8 {
		t.Fatalf("held %d windows, %d evictions", c.n, c.evictions.Load())
	}
	off := newDecodedCache(0)
	off.put("a", []byte("1"), ws(1), 0)
	if _, _, ok := off.get("a", []byte("1")); ok {
		t.Fatal("a cache that is off answered")
	}
}
