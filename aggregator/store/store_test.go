package store

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	s, err := Open(ctx, Options{Addr: r.Addr, Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// t0 is an hour boundary three hours ago: data keys expire at their
// block's end plus the retention, in the windows' own time, so tests
// write recent windows.
var t0 = time.Now().Add(-3*time.Hour).UnixMilli() / HourMs * HourMs

func batch(seq uint64, start int64, load float64) *codec.Batch {
	return &codec.Batch{
		Version: codec.Version, Agent: "s1/h1", Site: "s1", Host: "h1", Seq: seq,
		Start: start, Width: 60_000,
		Series: []codec.Series{
			{ID: 3, Name: "node_load1"},
			{ID: 7, Name: "node_cpu_seconds_total", Kind: codec.Counter, Labels: []string{"cpu", "0", "mode", "user"}},
		},
		Rollups: []codec.Rollup{
			{ID: 3, Count: 60, Sum: 60 * load, Min: load / 2, Max: load * 2, First: load, Last: load, Quantiles: []float64{load, load * 1.5, load * 1.9}},
			{ID: 7, Count: 60, Sum: 30, Min: 0.4, Max: 0.6, First: 0.5, Last: 1234.5},
		},
	}
}

// dump returns every key and its full content, to compare Redis states.
func dump(t *testing.T, s *Store) map[string]any {
	t.Helper()
	ctx := context.Background()
	keys, err := s.rdb.Keys(ctx, "t:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]any)
	for _, k := range keys {
		if strings.HasPrefix(k, "t:wc:") {
			continue // a meter of windows written, like the backhaul counters
		}
		switch typ := s.rdb.Type(ctx, k).Val(); typ {
		case "set":
			m := s.rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			out[k] = m
		case "hash":
			out[k] = s.rdb.HGetAll(ctx, k).Val()
		case "zset":
			out[k] = s.rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		case "string":
			out[k] = s.rdb.Get(ctx, k).Val()
		default:
			t.Fatalf("unexpected key type %s for %s", typ, k)
		}
	}
	return out
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	b1, b2 := batch(1, t0+40_000, 1.5), batch(2, t0+100_000, 2.5)
	for _, b := range []*codec.Batch{b1, b2} {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	before := dump(t, s)
	// Redelivery, also by a fresh aggregator that has not cached the index.
	s.agents = make(map[string]*agentSeries)
	for _, b := range []*codec.Batch{b2, b1, b1} {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if after := dump(t, s); !reflect.DeepEqual(before, after) {
		t.Fatalf("re-applying changed Redis:\nbefore %v\nafter  %v", before, after)
	}
	logs := 0
	for k, v := range before {
		if !strings.HasPrefix(k, "t:o:{s1/h1}") {
			continue
		}
		logs++
		bySeries, err := DecodeLog([]byte(v.(string)))
		if err != nil || len(bySeries) != 2 {
			t.Errorf("%s holds %d series (%v), want 2", k, len(bySeries), err)
		}
		for sid, ws := range bySeries {
			if len(ws) != 2 {
				t.Errorf("%s holds %d windows of %s, want 2", k, len(ws), sid)
			}
		}
		// The log expires at its hour's end plus the retention.
		want := time.UnixMilli(t0 + HourMs).Add(s.opts.Retention)
		if at := s.rdb.PExpireTime(ctx, k).Val(); at != time.Duration(want.UnixMilli())*time.Millisecond {
			t.Errorf("%s expires at %v, want %v", k, at, want)
		}
	}
	if logs != 1 {
		t.Fatalf("%d open logs, want 1", logs)
	}
}

// TestRetentionExpiresBlocks: a block whose end is older than the
// retention is gone at once; memory follows series × retention.
func TestRetentionExpiresBlocks(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	old := t0 - s.opts.Retention.Milliseconds() - 2*HourMs
	if err := s.Apply(ctx, batch(1, old, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, batch(2, t0, 1)); err != nil {
		t.Fatal(err)
	}
	if keys := s.rdb.Keys(ctx, "t:c:*").Val(); len(keys) != 0 {
		t.Fatalf("chunk keys %v: want none (the recent hour is open)", keys)
	}
	keys := s.rdb.Keys(ctx, "t:o:*").Val()
	if len(keys) != 1 || !strings.HasSuffix(keys[0], ":"+strconv.FormatInt(t0/HourMs, 10)) {
		t.Fatalf("open logs %v: want only the recent hour's", keys)
	}
	if s.Expired() != 2 {
		t.Fatalf("Expired = %d, want the old batch's 2 windows", s.Expired())
	}
	// The old frame is applied all the same: applying it again is a no-op.
	if n := s.rdb.ZCard(ctx, s.key("ws:", tag("s1/h1"))).Val(); n != 2 {
		t.Fatalf("applied seqs = %d, want 2", n)
	}
}

func TestPointsRoundTrip(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	b := batch(1, t0+40_000, 1.5)
	if err := s.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	refs, err := s.SeriesOf(ctx, []string{"node_load1", "node_cpu_seconds_total"})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 {
		t.Fatalf("SeriesOf = %v", refs)
	}
	for _, r := range refs {
		pts, err := s.Points(ctx, []SeriesRef{r}, 0, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		if len(pts[0]) != 1 {
			t.Fatalf("%s: %d points", r.Name, len(pts[0]))
		}
		p := pts[0][0]
		want := b.Rollups[0]
		if r.Name == "node_cpu_seconds_total" {
			want = b.Rollups[1]
			if got := fmt.Sprint(r.Labels); got != "[cpu 0 instance h1 mode user site s1]" {
				t.Fatalf("labels = %s", got)
			}
		}
		if p.End != b.Start+b.Width || p.Count != want.Count || p.Sum != want.Sum || p.Min != want.Min ||
			p.Max != want.Max || p.First != want.First || p.Last != want.Last || p.HasQuantiles != (len(want.Quantiles) == 3) {
			t.Fatalf("%s: point %+v, rollup %+v", r.Name, p, want)
		}
	}
}

func TestSeriesLabelsIdentityWins(t *testing.T) {
	b := &codec.Batch{Site: "s1", Host: "h1"}
	got := SeriesLabels(b, &codec.Series{Labels: []string{"a", "1", "instance", "spoofed", "z", "2"}})
	if fmt.Sprint(got) != "[a 1 instance h1 site s1 z 2]" {
		t.Fatalf("SeriesLabels = %v", got)
	}
}

func redisZ(seq float64) redis.Z { return redis.Z{Score: seq, Member: seq} }
