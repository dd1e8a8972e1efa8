package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// Sweep removes the index entries of series past both retentions, and
// only those.
func TestSweepIndex(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	old := batch(1, t0, 1.5)
	if err := s.Apply(ctx, old); err != nil {
		t.Fatal(err)
	}
	live := batch(1, t0+2*HourMs, 1.5)
	live.Agent, live.Host = "s1/h2", "h2"
	live.Series = live.Series[:1]
	live.Rollups = live.Rollups[:1]
	if err := s.Apply(ctx, live); err != nil {
		t.Fatal(err)
	}
	keep := max(s.opts.Retention, s.opts.HourlyRetention)

	if n, err := s.Sweep(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("Sweep now = %d, %v; want nothing swept", n, err)
	}
	// h1's windows started at t0: past both retentions an hour later than h2's.
	at := time.UnixMilli(t0).Add(keep + 26*time.Hour)
	n, err := s.Sweep(ctx, at)
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want h1's 2 series", n, err)
	}
	names, _ := s.Names(ctx)
	if !slices.Equal(names, []string{"node_load1"}) {
		t.Fatalf("names after the sweep = %v", names)
	}
	hosts, _ := s.LabelValues(ctx, "instance")
	if !slices.Equal(hosts, []string{"h2"}) {
		t.Fatalf("instance values after the sweep = %v", hosts)
	}
	sids, _ := s.Postings(ctx, [][2]string{{"instance", "h1"}})
	refs, _ := s.SeriesOf(ctx, []string{"node_load1", "node_cpu_seconds_total"})
	if len(sids) != 0 || len(refs) != 1 || refs[0].Agent != "s1/h2" {
		t.Fatalf("after the sweep: h1 postings %v, series %v", sids, refs)
	}
	for _, k := range []string{"name:node_cpu_seconds_total", "pl:instance=h1", "pl:cpu=0"} {
		if e := s.rdb.Exists(ctx, s.key(k)).Val(); e != 0 {
			t.Fatalf("%s still exists", k)
		}
	}
	if n, err := s.Sweep(ctx, at); err != nil || n != 0 {
		t.Fatalf("second Sweep = %d, %v; want 0", n, err)
	}
	if n, err := s.Sweep(ctx, at.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("Sweep later = %d, %v; want h2's series", n, err)
	}
	if c := s.rdb.HLen(ctx, s.key("series")).Val(); c != 0 {
		t.Fatalf("series hash has %d entries after sweeping all", c)
	}
}

// A Redis that comes back empty gets the index again with the next
// writes: the probe notices the lost writes and the store forgets which
// series it had indexed.
func TestIndexHealsAfterLostWrites(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.Apply(ctx, batch(1, t0, 1.5)); err != nil {
		t.Fatal(err)
	}
	if lost, err := s.Probe(ctx, "m"); err != nil || lost {
		t.Fatalf("first probe = %v, %v", lost, err)
	}
	if lost, err := s.Probe(ctx, "m"); err != nil || lost {
		t.Fatalf("second probe = %v, %v; nothing was lost", lost, err)
	}
	if err := s.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Without forgetting, the next window of the same hour writes no
	// index entries: the store believes they are there.
	if err := s.Apply(ctx, batch(2, t0+60_000, 1.5)); err != nil {
		t.Fatal(err)
	}
	if names, _ := s.Names(ctx); len(names) != 0 {
		t.Fatalf("names = %v before the probe; the test no longer shows the stale cache", names)
	}
	lost, err := s.Probe(ctx, "m")
	if err != nil || !lost {
		t.Fatalf("probe after FLUSHALL = %v, %v; want lost", lost, err)
	}
	if s.Forgets() != 1 {
		t.Fatalf("Forgets = %d", s.Forgets())
	}
	if err := s.Apply(ctx, batch(3, t0+120_000, 1.5)); err != nil {
		t.Fatal(err)
	}
	names, _ := s.Names(ctx)
	slices.Sort(names)
	if !slices.Equal(names, []string{"node_cpu_seconds_total", "node_load1"}) {
		t.Fatalf("names after the next write = %v", names)
	}
	refs, err := s.SeriesOf(ctx, []string{"node_load1"})
	if err != nil || len(refs) != 1 {
		t.Fatalf("SeriesOf = %v, %v", refs, err)
	}
	pts, err := s.Points(ctx, refs, 0, t0+10*HourMs)
	if err != nil || len(pts[0]) != 2 {
		t.Fatalf("points after the flush = %v, %v; want the two windows written since", pts, err)
	}
}
