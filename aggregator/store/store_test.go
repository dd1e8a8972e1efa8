package store

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

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
			continue // the stored-window meter counts every write (capacity.go)
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
		default:
			t.Fatalf("unexpected key type %s for %s", typ, k)
		}
	}
	return out
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	b1, b2 := batch(1, 1_700_000_040_000, 1.5), batch(2, 1_700_000_100_000, 2.5)
	for _, b := range []*codec.Batch{b1, b2} {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	before := dump(t, s)
	// Redelivery, also by a fresh aggregator that has not cached the index.
	s.agents = make(map[string]*agentSeries)
	s.indexed = make(map[string]struct{})
	for _, b := range []*codec.Batch{b2, b1, b1} {
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if after := dump(t, s); !reflect.DeepEqual(before, after) {
		t.Fatalf("re-applying changed Redis:\nbefore %v\nafter  %v", before, after)
	}
	zsets := 0
	for k, v := range before {
		if z, ok := v.([]redis.Z); ok {
			zsets++
			if len(z) != 2 {
				t.Errorf("%s holds %d windows, want 2", k, len(z))
			}
		}
	}
	if zsets != 2 {
		t.Fatalf("%d data keys, want 2", zsets)
	}
	// Every data key carries the retention TTL, though it is refreshed at
	// most once an hour.
	for k := range before {
		if !strings.HasPrefix(k, "ep:d:") {
			continue
		}
		if ttl := s.rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > s.opts.Retention {
			t.Errorf("%s has TTL %v, want (0, %v]", k, ttl, s.opts.Retention)
		}
	}
}

func TestPointsRoundTrip(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	b := batch(1, 1_700_000_040_000, 1.5)
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
		pts, err := s.Points(ctx, []string{r.ID}, 0, math.MaxInt64)
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

func TestParseMemberRejects(t *testing.T) {
	for _, m := range []string{"", "1|2|3", "1|2|3|4|5|6|7|x", "1|2|3|4|5|6|7|8|9"} {
		if _, err := ParseMember(m); err == nil {
			t.Errorf("ParseMember(%q) accepted", m)
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
