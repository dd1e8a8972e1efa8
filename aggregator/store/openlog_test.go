package store

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

// onlyLoad is b with its node_load1 series only.
func onlyLoad(b *codec.Batch) *codec.Batch {
	b.Series, b.Rollups = b.Series[:1], b.Rollups[:1]
	return b
}

// TestOpenLogSealed: an hour's frames go to the agent's open log; the
// first window of the next hour, applied by a fresh process that knows
// only one of the two series, seals the log into both series' chunks
// (one segment each, expiring at the hour's end plus the retention) and
// deletes it.
func TestOpenLogSealed(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	for w := range 3 {
		if err := s.Apply(ctx, batch(uint64(w+1), t0+int64(w)*60_000, float64(w))); err != nil {
			t.Fatal(err)
		}
	}
	log := s.logKey(tag("s1/h1"), t0)
	if n := s.rdb.Exists(ctx, log).Val(); n != 1 {
		t.Fatal("no open log after the hour's frames")
	}
	s.agents = make(map[string]*agentSeries)
	if err := s.Apply(ctx, onlyLoad(batch(4, t0+HourMs, 9))); err != nil {
		t.Fatal(err)
	}
	if n := s.rdb.Exists(ctx, log).Val(); n != 0 {
		t.Fatal("the sealed hour's log is still there")
	}
	b := batch(1, t0, 0)
	for i := range b.Series {
		sid := SeriesID(Canon(b.Series[i].Name, SeriesLabels(b, &b.Series[i])))
		k := s.chunkKey(tag("s1/h1"), sid, t0)
		v, err := s.rdb.Get(ctx, k).Bytes()
		if err != nil {
			t.Fatalf("chunk of %s: %v", b.Series[i].Name, err)
		}
		ws, _, err := codec.DecodeChunk(nil, v)
		if err != nil || len(ws) != 3 || string(codec.AppendSegment(nil, ws)) != string(v) {
			t.Fatalf("chunk of %s: %d windows (%v), sealed %v", b.Series[i].Name, len(ws), err, string(codec.AppendSegment(nil, ws)) == string(v))
		}
		want := time.UnixMilli(t0 + HourMs).Add(s.opts.Retention)
		if at := s.rdb.PExpireTime(ctx, k).Val(); at != time.Duration(want.UnixMilli())*time.Millisecond {
			t.Errorf("%s expires at %v, want %v", k, at, want)
		}
		got, err := s.Points(ctx, []SeriesRef{{Agent: "s1/h1", ID: sid}}, t0, t0+2*HourMs)
		if err != nil || len(got[0]) != 3+1-i { // node_load1 has the next hour's window too
			t.Fatalf("Points of %s: %d windows, %v", b.Series[i].Name, len(got[0]), err)
		}
	}
}

// TestOpenLogSealRace: a chunk that changes between the seal's read and
// its write (a late window appended by another member) keeps what it
// got, and the log's windows are appended to it instead of the segment,
// so deleting the log loses nothing.
func TestOpenLogSealRace(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	for w := range 3 {
		if err := s.Apply(ctx, batch(uint64(w+1), t0+int64(w)*60_000, float64(w))); err != nil {
			t.Fatal(err)
		}
	}
	w := s.NewWrite()
	if err := w.Add(ctx, batch(4, t0+HourMs, 9)); err != nil { // reads the hour to seal
		t.Fatal(err)
	}
	w.MarkApplied(ctx, "s1/h1", 4)
	b := batch(1, t0, 0)
	sid := SeriesID(Canon("node_load1", SeriesLabels(b, &b.Series[0])))
	late := WindowOf(t0+40*60_000, 60_000, &batch(41, t0+39*60_000, 5).Rollups[0])
	if err := s.rdb.Append(ctx, s.chunkKey(tag("s1/h1"), sid, t0), string(codec.AppendRecord(nil, &late))).Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.rdb.Exists(ctx, s.logKey(tag("s1/h1"), t0)).Val(); n != 0 {
		t.Fatal("the sealed hour's log is still there")
	}
	got, err := s.Points(ctx, []SeriesRef{{Agent: "s1/h1", ID: sid}}, t0, t0+HourMs)
	if err != nil || len(got[0]) != 4 {
		t.Fatalf("Points: %d windows (want the 3 logged and the late one), %v", len(got[0]), err)
	}
}

// TestOpenLogReadPerSeries: one Reader asked for one series of an open
// log and then for the other indexes the log for each in turn and
// returns each series' windows only.
func TestOpenLogReadPerSeries(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	for w := range 5 {
		if err := s.Apply(ctx, batch(uint64(w+1), t0+int64(w)*60_000, float64(w))); err != nil {
			t.Fatal(err)
		}
	}
	b := batch(1, t0, 0)
	r := s.NewReader()
	for i := range b.Series {
		sid := SeriesID(Canon(b.Series[i].Name, SeriesLabels(b, &b.Series[i])))
		got, err := r.Points(ctx, []SeriesRef{{Agent: "s1/h1", ID: sid}}, t0, t0+HourMs)
		if err != nil || len(got[0]) != 5 {
			t.Fatalf("%s: %d windows, %v", b.Series[i].Name, len(got[0]), err)
		}
		for w, p := range got[0] {
			want := WindowOf(t0+int64(w+1)*60_000, 60_000, &batch(1, t0, float64(w)).Rollups[i])
			if p != want {
				t.Fatalf("%s window %d: %+v, want %+v", b.Series[i].Name, w, p, want)
			}
		}
	}
}

// TestLogEntryExact: a log entry gives back every statistic bit for bit
// (negative zero, NaN, infinities, quantile values without
// HasQuantiles) and rejects a truncated or padded entry.
func TestLogEntryExact(t *testing.T) {
	nan := math.Float64frombits(0x7ff8000000000001)
	ws := []codec.Window{
		{End: 1_800_000_060_000, Width: 60_000, Count: 60, Sum: 90, Min: 1.5, Max: 1.5, First: 1.5, Last: 1.5},
		{End: 1_800_000_120_000, Width: 60_000},
		{End: 7, Width: 3_600_000, Count: math.MaxUint32, Sum: math.Copysign(0, -1), Min: nan, Max: math.Inf(1), First: math.Inf(-1), Last: 1e-300,
			P50: 2, P90: 2, P99: 3, HasQuantiles: true},
		{End: math.MaxInt64, Width: 1, Count: 1, P50: 0.25, P99: -0.5},
	}
	var p []byte
	for i := range ws {
		p = appendLogEntry(p, uint64(i)<<60|7, &ws[i])
	}
	l := parseLog(p)
	if l.bad || len(l.idx) != len(ws) {
		t.Fatalf("index of %d entries: %d series, bad %v", len(ws), len(l.idx), l.bad)
	}
	for i := range ws {
		got, bad := l.windows(nil, uint64(i)<<60|7)
		if bad != 0 || len(got) != 1 {
			t.Fatalf("window %d: %d decoded, %d bad", i, len(got), bad)
		}
		a, b := fmt.Sprintf("%#v", got[0]), fmt.Sprintf("%#v", ws[i])
		if a != b || math.Float64bits(got[0].Sum) != math.Float64bits(ws[i].Sum) || math.Float64bits(got[0].Min) != math.Float64bits(ws[i].Min) {
			t.Fatalf("window %d: %s, want %s", i, a, b)
		}
		rec := l.record(l.idx[uint64(i)<<60|7][0])
		if _, err := decodeLogWindow(rec[:len(rec)-1]); err == nil {
			t.Fatalf("window %d truncated: no error", i)
		}
		if _, err := decodeLogWindow(append(slices.Clone(rec), 0)); err == nil {
			t.Fatalf("window %d padded: no error", i)
		}
	}
	if l := parseLog(p[:len(p)-3]); !l.bad {
		t.Fatal("a log cut within an entry is not reported")
	}
}
