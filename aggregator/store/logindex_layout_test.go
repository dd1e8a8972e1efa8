package store

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/edgepulse/edgepulse/codec"
)

// TestLogIndexLayout: while an agent's frames carry the same series in
// the same order, the read script finds a series' entries by the first
// frame's layout (mode 2); a frame in another order, with other series,
// or a series absent from the first frame sends it to the search of the
// whole index (mode 1); either way the entries are exactly the series'
// entries of the log, in the log's order.
func TestLogIndexLayout(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	// extra: a third series, so frames can differ in which series they carry.
	extra := codec.Series{ID: 9, Name: "node_memory_free_bytes"}
	frame := func(agent string, seq uint64, minute int, order []uint32) *codec.Batch {
		b := batch(seq, t0+int64(minute)*60_000, float64(minute+1))
		b.Agent, b.Host = agent, agent[3:]
		b.Series = append(b.Series, extra)
		b.Rollups = append(b.Rollups, codec.Rollup{ID: 9, Count: 60, Sum: 60e6, Min: 1e6, Max: 1e6, First: 1e6, Last: 1e6})
		var ss []codec.Series
		var rs []codec.Rollup
		for _, id := range order {
			i := slices.IndexFunc(b.Series, func(x codec.Series) bool { return x.ID == id })
			ss, rs = append(ss, b.Series[i]), append(rs, b.Rollups[i])
		}
		b.Series, b.Rollups = ss, rs
		return b
	}
	sidOf := func(b *codec.Batch, id uint32) uint64 {
		i := slices.IndexFunc(b.Series, func(x codec.Series) bool { return x.ID == id })
		n, err := sidNum(SeriesID(Canon(b.Series[i].Name, SeriesLabels(b, &b.Series[i]))))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// check asks agent's log for each of ids, wants mode and the log's
	// entries of that series.
	check := func(agent string, b *codec.Batch, mode int64, ids ...uint32) {
		t.Helper()
		logK, idxK := s.logKey(tag(agent), t0), s.logIndexKey(tag(agent), t0)
		all, err := DecodeLog([]byte(s.rdb.Get(ctx, logK).Val()))
		if err != nil {
			t.Fatal(err)
		}
		var nums []uint64
		for _, id := range ids {
			nums = append(nums, sidOf(b, id))
		}
		v, err := s.rdb.Eval(ctx, logExtractSrc, []string{logK, idxK}, extractArgs(nums)...).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := v.([]any)[0].(int64); got != mode {
			t.Errorf("%s series %v: read script mode %d, want %d", agent, ids, got, mode)
		}
		p, whole, ok, err := extractReply(v)
		if err != nil || !ok || whole {
			t.Fatalf("%s: ok %v whole %v, %v", agent, ok, whole, err)
		}
		got, err := DecodeLog(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nums {
			if len(all[sidHex(n)]) == 0 || !reflect.DeepEqual(got[sidHex(n)], all[sidHex(n)]) {
				t.Fatalf("%s series %x: extracted %v, the log has %v", agent, n, got[sidHex(n)], all[sidHex(n)])
			}
		}
		if len(got) != len(nums) {
			t.Fatalf("%s: extracted %d series, asked %d", agent, len(got), len(nums))
		}
	}
	apply := func(b *codec.Batch) {
		t.Helper()
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	// The same layout in every frame: found by it, one or several series.
	var last *codec.Batch
	for m := range 6 {
		last = frame("s1/h1", uint64(m+1), m, []uint32{3, 7, 9})
		apply(last)
	}
	check("s1/h1", last, 2, 7)
	check("s1/h1", last, 2, 9, 3)
	// One frame in another order: the layout no longer holds.
	apply(frame("s1/h1", 7, 6, []uint32{7, 3, 9}))
	check("s1/h1", last, 1, 3)
	check("s1/h1", last, 1, 7, 9)

	// Same count, another series in the second frame (9 instead of 7).
	b := frame("s1/h2", 1, 0, []uint32{3, 7})
	apply(b)
	check("s1/h2", b, 2, 7) // one frame
	apply(frame("s1/h2", 2, 1, []uint32{3, 9}))
	check("s1/h2", b, 1, 7)
	check("s1/h2", b, 2, 3) // at its place in both frames

	// A series that joins after the first frame, and frames of two sizes.
	b = frame("s1/h3", 1, 0, []uint32{3})
	apply(b)
	for m := 1; m < 4; m++ {
		b = frame("s1/h3", uint64(m+1), m, []uint32{3, 7})
		apply(b)
	}
	check("s1/h3", b, 1, 7)
	check("s1/h3", b, 1, 3)
}
