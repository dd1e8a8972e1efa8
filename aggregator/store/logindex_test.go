package store

import (
	"context"
	"reflect"
	"testing"

	"github.com/edgepulse/edgepulse/codec"
)

// TestLogIndexReads: a query of one series of the open hour gets only
// that series' entries from the read script (a fraction of the log), and
// the same windows as a read of the whole log; a log the index does not
// cover (a frame appended by an aggregator before the index, or an index
// gone) is returned whole, so nothing in it is missed; the seal deletes
// the index with the log.
func TestLogIndexReads(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	const frames = 5
	for w := range frames {
		if err := s.Apply(ctx, batch(uint64(w+1), t0+int64(w)*60_000, float64(w+1))); err != nil {
			t.Fatal(err)
		}
	}
	b := batch(1, t0, 0)
	var refs []SeriesRef
	var nums []uint64
	for i := range b.Series {
		sid := SeriesID(Canon(b.Series[i].Name, SeriesLabels(b, &b.Series[i])))
		refs = append(refs, SeriesRef{Agent: "s1/h1", ID: sid})
		n, _ := sidNum(sid)
		nums = append(nums, n)
	}
	logK, idxK := s.logKey(tag("s1/h1"), t0), s.logIndexKey(tag("s1/h1"), t0)
	logV := s.rdb.Get(ctx, logK).Val()
	if n := s.rdb.StrLen(ctx, idxK).Val(); n != frames*3*logIndexRecord {
		t.Fatalf("index of %d bytes, want %d (a header and 2 records per frame)", n, frames*3*logIndexRecord)
	}
	if got, want := s.rdb.PExpireTime(ctx, idxK).Val(), s.rdb.PExpireTime(ctx, logK).Val(); got != want || got <= 0 {
		t.Errorf("index expires at %v, the log at %v", got, want)
	}
	extract := func(sid uint64) (p []byte, whole bool) {
		t.Helper()
		v, err := s.rdb.Eval(ctx, logExtractSrc, []string{logK, idxK}, extractArgs([]uint64{sid})...).Result()
		if err != nil {
			t.Fatal(err)
		}
		p, whole, ok, err := extractReply(v)
		if err != nil || !ok {
			t.Fatalf("read script: ok %v, %v", ok, err)
		}
		return p, whole
	}
	all, err := DecodeLog([]byte(logV))
	if err != nil {
		t.Fatal(err)
	}
	for i, num := range nums {
		p, whole := extract(num)
		if whole || len(p) >= len(logV) {
			t.Fatalf("series %d: whole %v, %d of the log's %d bytes", i, whole, len(p), len(logV))
		}
		got, err := DecodeLog(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !reflect.DeepEqual(got[sidHex(num)], all[sidHex(num)]) || len(got[sidHex(num)]) != frames {
			t.Fatalf("series %d: extracted %v, the log has %v", i, got, all[sidHex(num)])
		}
	}
	points := func(whole bool) [][]Point {
		t.Helper()
		s.SetWholeLogReads(whole)
		defer s.SetWholeLogReads(false)
		r := s.NewReader()
		var out [][]Point
		for i := range refs { // one series at a time: the second adds to the log read
			got, err := r.Points(ctx, refs[i:i+1], t0, t0+HourMs)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, got[0])
		}
		return out
	}
	byIndex, byLog := points(false), points(true)
	if !reflect.DeepEqual(byIndex, byLog) || len(byIndex[0]) != frames || len(byIndex[1]) != frames {
		t.Fatalf("through the index %v, whole log %v", byIndex, byLog)
	}

	// A frame appended without index records (an older aggregator): the
	// index no longer covers the log, the script returns it whole.
	late := codec.Window{End: t0 + 50*60_000, Width: 60_000, Count: 1, Sum: 42, Min: 42, Max: 42, First: 42, Last: 42}
	s.rdb.Append(ctx, logK, string(appendLogEntry(nil, nums[0], &late)))
	if _, whole := extract(nums[0]); !whole {
		t.Fatal("a log with an unindexed frame was not returned whole")
	}
	got, err := s.Points(ctx, refs[:1], t0, t0+HourMs)
	if err != nil || len(got[0]) != frames+1 || got[0][frames].Sum != 42 {
		t.Fatalf("after an unindexed frame: %v, %v", got, err)
	}
	// The next indexed frame does not make it covered again.
	if err := s.Apply(ctx, batch(frames+1, t0+int64(frames)*60_000, 7)); err != nil {
		t.Fatal(err)
	}
	if _, whole := extract(nums[0]); !whole {
		t.Fatal("a log with an unindexed frame in the middle was not returned whole")
	}
	// No index at all.
	s.rdb.Del(ctx, idxK)
	if _, whole := extract(nums[1]); !whole {
		t.Fatal("a log without an index was not returned whole")
	}
	// The seal deletes the index with the log; the script then says
	// there is no log.
	if err := s.Apply(ctx, batch(frames+2, t0+HourMs, 3)); err != nil {
		t.Fatal(err)
	}
	if s.rdb.Exists(ctx, logK, idxK).Val() != 0 {
		t.Fatal("the sealed hour's log or index is still there")
	}
	v, err := s.rdb.Eval(ctx, logExtractSrc, []string{logK, idxK}, extractArgs(nums[:1])...).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := extractReply(v); ok || err != nil {
		t.Fatalf("no log: ok %v, %v", ok, err)
	}
}
