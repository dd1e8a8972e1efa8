package store

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
)

func TestMergeHour(t *testing.T) {
	const end = 7_200_000
	w := func(end int64, count uint32, sum, mn, mx, first, last float64, q ...float64) Point {
		p := Point{End: end, Width: 60_000, Count: count, Sum: sum, Min: mn, Max: mx, First: first, Last: last}
		if len(q) == 3 {
			p.P50, p.P90, p.P99, p.HasQuantiles = q[0], q[1], q[2], true
		}
		return p
	}
	a := w(3_660_000, 60, 60, 0.5, 2, 1, 1.5, 1, 1.5, 1.9)
	b := w(3_720_000, 60, 120, 1, 4, 2, 3, 2, 3, 3.8)
	c := w(3_780_000, 30, 90, 2, 9, 4, 5, 3, 6, 8.5)
	tests := []struct {
		name string
		in   []Point
		want Point
		ok   bool
	}{
		{"empty", nil, Point{}, false},
		{"one window", []Point{a}, Point{End: end, Width: HourMs, Count: 60, Sum: 60, Min: 0.5, Max: 2, First: 1, Last: 1.5, P50: 1, P90: 1.5, P99: 1.9, HasQuantiles: true}, true},
		{"three windows", []Point{a, b, c}, Point{End: end, Width: HourMs, Count: 150, Sum: 270, Min: 0.5, Max: 9, First: 1, Last: 5,
			P50: 2, P90: 6, P99: 8.5, HasQuantiles: true}, true},
		{"any order, repeats", []Point{c, a, b, a, c}, Point{End: end, Width: HourMs, Count: 150, Sum: 270, Min: 0.5, Max: 9, First: 1, Last: 5,
			P50: 2, P90: 6, P99: 8.5, HasQuantiles: true}, true},
		{"a window without quantiles", []Point{a, w(3_720_000, 60, 120, 1, 4, 2, 3)}, Point{End: end, Width: HourMs, Count: 120, Sum: 180, Min: 0.5, Max: 4, First: 1, Last: 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := MergeHour(tt.in, end)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("MergeHour = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestHourlyTier applies windows over two hours and a bit: the first
// whole hour is compacted when the next begins, from the stored windows;
// applying everything again (a fresh process, redeliveries, a late
// window) changes nothing; HourlyPoints merges the hours not compacted
// yet from the minute windows.
func TestHourlyTier(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	h0 := t0
	var seq uint64
	apply := func(w int) {
		t.Helper()
		seq++
		if err := s.Apply(ctx, batch(seq, h0+int64(w)*60_000, 1+float64(w%7))); err != nil {
			t.Fatal(err)
		}
	}
	for w := range 125 { // hours h0 and h0+1 whole, 5 windows of h0+2
		apply(w)
	}
	refs, err := s.SeriesOf(ctx, []string{"node_load1"})
	if err != nil || len(refs) != 1 {
		t.Fatalf("SeriesOf = %v, %v", refs, err)
	}
	ref := refs[0]
	sid := ref.ID
	hourly := func(hour int64) []Point {
		t.Helper()
		v, err := s.rdb.Get(ctx, s.hourlyKey(tag("s1/h1"), sid, hour-hour%DayMs)).Bytes()
		if err != nil {
			t.Fatalf("hourly chunk of hour %d: %v", hour, err)
		}
		ws, _, err := codec.DecodeChunk(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		var out []Point
		for _, w := range ws {
			if w.End > hour && w.End <= hour+HourMs {
				out = append(out, w)
			}
		}
		return out
	}
	got := append(hourly(h0), hourly(h0+HourMs)...)
	if len(got) != 2 || got[0].End != h0+HourMs || got[1].End != h0+2*HourMs {
		t.Fatalf("hourly tier holds %+v, want the hours ending %d and %d", got, h0+HourMs, h0+2*HourMs)
	}
	minutes, err := s.Points(ctx, []SeriesRef{ref}, h0+1, h0+HourMs)
	if err != nil || len(minutes[0]) != 60 {
		t.Fatalf("minute windows of the first hour: %d, %v", len(minutes[0]), err)
	}
	want, _ := MergeHour(minutes[0], h0+HourMs)
	if p := got[0]; !reflect.DeepEqual(p, want) {
		t.Fatalf("hourly point %+v, want %+v", p, want)
	}
	if want.Count != 3600 || want.Min != 0.5 || want.Max != 14 {
		t.Fatalf("merged hour %+v: want count 3600, min 0.5, max 14", want)
	}
	// The first hour's minute chunk is sealed: one segment.
	v, _ := s.rdb.Get(ctx, s.chunkKey(tag("s1/h1"), sid, h0)).Bytes()
	if ws, _, _ := codec.DecodeChunk(nil, v); string(codec.AppendSegment(nil, ws)) != string(v) {
		t.Fatalf("hour %d not sealed: %d bytes for %d windows", h0, len(v), len(ws))
	}

	before := dump(t, s)
	// A fresh process redelivers windows of both sealed hours, then the
	// newest again: nothing changes.
	s.agents = make(map[string]*agentSeries)
	for _, w := range []int{124, 10, 70, 124} {
		if err := s.Apply(ctx, batch(uint64(w+1), h0+int64(w)*60_000, 1+float64(w%7))); err != nil {
			t.Fatal(err)
		}
	}
	if after := dump(t, s); !reflect.DeepEqual(before, after) {
		t.Fatalf("re-applying changed Redis:\nbefore %v\nafter  %v", before, after)
	}

	// A late window of a sealed hour (one that was missing) is merged in.
	ck := s.chunkKey(tag("s1/h1"), sid, h0)
	half := minutes[0][:30]
	if err := s.rdb.Set(ctx, ck, codec.AppendSegment(nil, half), redis.KeepTTL).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, batch(131, h0+30*60_000, 1+float64(30%7))); err != nil {
		t.Fatal(err)
	}
	if got := hourly(h0); len(got) != 1 || got[0].Count != 31*60 {
		t.Fatalf("after removing 30 windows and a late one: hourly %+v, want one hour of count 1860", got)
	}

	// HourlyPoints: two sealed hours, and the hour in progress merged
	// from its 5 minute windows.
	hp, err := s.HourlyPoints(ctx, []SeriesRef{ref}, h0, h0+3*HourMs)
	if err != nil {
		t.Fatal(err)
	}
	if len(hp[0]) != 3 || hp[0][2].End != h0+3*HourMs || hp[0][2].Count != 5*60 {
		t.Fatalf("HourlyPoints = %+v, want 3 hours, the last of count 300", hp[0])
	}
}

// TestHourlyDaySealed: the day's last hour seals the day's hourly chunk
// into one segment of its 24 hours; a chunk appended to meanwhile gets
// the last hour as a record instead.
func TestHourlyDaySealed(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	day := time.Now().UnixMilli()/DayMs*DayMs - 2*DayMs
	var seq uint64
	apply := func(start int64) {
		t.Helper()
		seq++
		if err := s.Apply(ctx, batch(seq, start, 1+float64(seq%5))); err != nil {
			t.Fatal(err)
		}
	}
	// Two windows in each hour of the day, then the next day's first.
	for h := range int64(24) {
		apply(day + h*HourMs)
		apply(day + h*HourMs + 30*60_000)
	}
	refs, err := s.SeriesOf(ctx, []string{"node_load1"})
	if err != nil || len(refs) != 1 {
		t.Fatalf("SeriesOf = %v, %v", refs, err)
	}
	hk := s.hourlyKey(tag("s1/h1"), refs[0].ID, day)
	before, _ := s.rdb.Get(ctx, hk).Bytes()
	apply(day + DayMs)
	v, err := s.rdb.Get(ctx, hk).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := codec.DecodeChunk(nil, v)
	if err != nil || len(ws) != 24 {
		t.Fatalf("day chunk: %d windows, %v", len(ws), err)
	}
	if string(codec.AppendSegment(nil, ws)) != string(v) {
		t.Fatalf("day chunk not sealed: %d bytes for 24 hours", len(v))
	}
	if len(v) >= len(before) {
		t.Fatalf("sealed day chunk %d B, not smaller than its 23 records' %d B", len(v), len(before))
	}
	pts, err := s.HourlyPoints(ctx, refs, day, day+DayMs)
	if err != nil || len(pts[0]) != 24 {
		t.Fatalf("HourlyPoints: %d, %v", len(pts[0]), err)
	}
	for i, p := range pts[0] {
		if p.End != day+int64(i+1)*HourMs || p.Count != 120 {
			t.Fatalf("hour %d: %+v", i, p)
		}
	}
	ttl := s.rdb.PTTL(ctx, hk).Val()
	if ttl <= 0 {
		t.Fatalf("sealed day chunk lost its expiry: %v", ttl)
	}

	// The next day, with a record appended to its hourly chunk between
	// the seal's read and its write (another member, a late window): the
	// seal gives way and the last hour arrives as a record.
	day2 := day + DayMs
	for h := range int64(24) {
		if h > 0 {
			apply(day2 + h*HourMs)
		}
		apply(day2 + h*HourMs + 30*60_000)
	}
	hk2 := s.hourlyKey(tag("s1/h1"), refs[0].ID, day2)
	w := s.NewWrite()
	seq++
	if err := w.Add(ctx, batch(seq, day2+DayMs, 1)); err != nil {
		t.Fatal(err)
	}
	extra := codec.Window{End: day2 + HourMs, Width: HourMs, Count: 7, Sum: 7, Min: 1, Max: 1, First: 1, Last: 1}
	if err := s.rdb.Append(ctx, hk2, string(codec.AppendRecord(nil, &extra))).Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	v2, _ := s.rdb.Get(ctx, hk2).Bytes()
	all, err := codec.DecodeChunkAll(nil, v2)
	if err != nil || len(all) != 25 {
		t.Fatalf("day 2 chunk: %d windows appended, %v; want 23 hours, the extra and the last hour", len(all), err)
	}
	if last := all[len(all)-1]; last.End != day2+DayMs || last.Count != 120 {
		t.Fatalf("day 2's last hour %+v, want it appended after the extra record", last)
	}
}
