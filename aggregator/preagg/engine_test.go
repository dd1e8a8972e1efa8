package preagg

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

const width = 60_000

var cpuRule = Rule{Name: "site_cpu_busy", Op: "sum", Select: `node_cpu_seconds_total{mode!="idle"}`, By: []string{"site"}}

func startStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return openStore(t, r.Addr), r.Addr
}

func openStore(t *testing.T, addr string) *store.Store {
	s, err := store.Open(context.Background(), store.Options{Addr: addr, Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// host is a simulated host: site, partition, and its CPU modes' rates.
type host struct {
	name, site string
	part       int
}

var modes = []string{"idle", "user", "system"}

func frame(h host, i int, start int64) Frame {
	b := &codec.Batch{Agent: h.site + "/" + h.name, Site: h.site, Host: h.name, Seq: uint64(start / width), Start: start, Width: width}
	for cpu := range 2 {
		for m, mode := range modes {
			id := uint32(len(b.Series))
			b.Series = append(b.Series, codec.Series{ID: id, Name: "node_cpu_seconds_total", Kind: codec.Counter,
				Labels: []string{"cpu", fmt.Sprint(cpu), "mode", mode}})
			rate := 0.01*float64(i%17) + 0.1*float64(m) + 0.05*float64(cpu) + float64(start/width%5)*0.001
			b.Rollups = append(b.Rollups, codec.Rollup{ID: id, Count: 60, Sum: 60 * rate, Min: rate, Max: rate, First: rate, Last: float64(start) * rate})
		}
	}
	// A series the rule must not read.
	id := uint32(len(b.Series))
	b.Series = append(b.Series, codec.Series{ID: id, Name: "node_load1"})
	b.Rollups = append(b.Rollups, codec.Rollup{ID: id, Count: 60, Sum: 60, Min: 1, Max: 1, First: 1, Last: 1})
	return Frame{Partition: h.part, Batch: b}
}

func fleet(n int) []host {
	var hs []host
	for i := range n {
		hs = append(hs, host{name: fmt.Sprintf("h%03d", i), site: fmt.Sprintf("s%d", i%2), part: i % 4})
	}
	return hs
}

// writeRaw stores the frames themselves, as the aggregator does.
func writeRaw(t *testing.T, st *store.Store, fs []Frame) {
	t.Helper()
	for _, f := range fs {
		if err := st.Apply(context.Background(), f.Batch); err != nil {
			t.Fatal(err)
		}
	}
}

func newEngine(t *testing.T, st *store.Store, now *time.Time) *Engine {
	t.Helper()
	e, err := New(Config{Rules: []Rule{cpuRule}, CloseShare: 0.9, Deadline: 10 * time.Second}, st, "r1", 4, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	e.now = func() time.Time { return *now }
	return e
}

// instant evaluates q at t over qa.
func instant(t *testing.T, qa *Queryable, q string, at int64) map[string]float64 {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	qry, err := eng.NewInstantQuery(context.Background(), qa, nil, q, time.UnixMilli(at))
	if err != nil {
		t.Fatal(err)
	}
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	out := map[string]float64{}
	vec, _ := res.Vector()
	for _, s := range vec {
		out[s.Metric.Get("site")] = s.F
	}
	return out
}

func sameValues(a, b map[string]float64) error {
	if len(a) != len(b) || len(a) == 0 {
		return fmt.Errorf("%v vs %v", a, b)
	}
	for k, v := range a {
		if math.Abs(v-b[k]) > 1e-9*math.Max(1, math.Abs(v)) {
			return fmt.Errorf("site %s: %g vs %g", k, v, b[k])
		}
	}
	return nil
}

// TestMemberDiesMidWindow: member A observes half of window 1's frames
// and dies; member B takes its partitions, gets the un-acknowledged
// frames again plus some acknowledged ones twice (a crash between write
// and ack), closes window 1 at its deadline and window 2 by share. Both
// windows equal the same PromQL over the raw series; a late host makes a
// new version, counted.
func TestMemberDiesMidWindow(t *testing.T) {
	st, addr := startStore(t)
	ctx := context.Background()
	hosts := fleet(40)
	start1 := time.Now().Add(-10*time.Minute).UnixMilli() / width * width
	start2 := start1 + width
	var w1, w2 []Frame
	for i, h := range hosts {
		w1 = append(w1, frame(h, i, start1))
		if i != 7 { // host 7 is late in window 2
			w2 = append(w2, frame(h, i, start2))
		}
	}
	writeRaw(t, st, w1)
	writeRaw(t, st, w2)

	now := time.UnixMilli(start1 + width)
	a := newEngine(t, st, &now)
	if err := a.Observe(ctx, w1[:20]); err != nil {
		t.Fatal(err)
	}
	// A dies. B, with its own store client, gets frames 15.. (15–19 a
	// second time).
	stB := openStore(t, addr)
	b := newEngine(t, stB, &now)
	if err := b.Observe(ctx, w1[15:]); err != nil {
		t.Fatal(err)
	}
	// Window 1 has no previous window to compare with: it closes at its
	// deadline, on whichever member runs the loop.
	qa := NewQueryable(&query.Queryable{Store: stB}, Config{Rules: []Rule{cpuRule}})
	end1 := start1 + width
	if got := instant(t, qa, "site_cpu_busy", end1); len(got) != 0 {
		t.Fatalf("window 1 visible before it closed: %v", got)
	}
	now = time.UnixMilli(end1 + 11_000)
	if err := b.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
	raw := `sum by (site) (node_cpu_seconds_total:avg{mode!="idle"})`
	if err := sameValues(instant(t, qa, "site_cpu_busy", end1), instant(t, qa, raw, end1)); err != nil {
		t.Fatalf("window 1: preagg vs raw: %v", err)
	}
	if got := instant(t, qa, "site_cpu_busy_hosts", end1); got["s0"] != 20 || got["s1"] != 20 {
		t.Fatalf("window 1 hosts: %v, want 20 per site", got)
	}
	// Window 2: 39 of 40 hosts ≥ 0.9 × 40 close it at once (per
	// partition: 9 or 10 of 10).
	now = time.UnixMilli(start2 + width)
	if err := b.Observe(ctx, w2); err != nil {
		t.Fatal(err)
	}
	// Decided in Observe, written by the loop.
	if err := b.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
	end2 := start2 + width
	if got := instant(t, qa, "site_cpu_busy_hosts", end2); got["s0"]+got["s1"] != 39 {
		t.Fatalf("window 2 hosts before the late one: %v, want 39", got)
	}
	late := frame(hosts[7], 7, start2)
	writeRaw(t, st, []Frame{late})
	if err := b.Observe(ctx, []Frame{late}); err != nil {
		t.Fatal(err)
	}
	if err := b.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
	if b.Metrics().Late() != 1 {
		t.Fatalf("late updates %v, want 1", b.Metrics().Late())
	}
	if err := sameValues(instant(t, qa, "site_cpu_busy", end2), instant(t, qa, raw, end2)); err != nil {
		t.Fatalf("window 2 after the late host: preagg vs raw: %v", err)
	}
	// Merged over partitions, X_version is the sum of the partials'
	// versions: s0's two partitions closed once each, s1's host 7 made a
	// second version of partition 3.
	if got := instant(t, qa, "site_cpu_busy_version", end2); got["s0"] != 2 || got["s1"] != 3 {
		t.Fatalf("window 2 versions %v, want s0 2, s1 3", got)
	}
	// The late frame again (redelivered) is not a new version.
	if err := b.Observe(ctx, []Frame{late}); err != nil {
		t.Fatal(err)
	}
	if b.Metrics().Late() != 1 {
		t.Fatalf("a redelivered frame made a version: late updates %v", b.Metrics().Late())
	}
	// Window 3: the member decides the versions (Observe) and dies before
	// its loop wrote them. The loop of the member that owns the partitions
	// next writes them.
	start3 := start2 + width
	var w3 []Frame
	for i, h := range hosts {
		w3 = append(w3, frame(h, i, start3))
	}
	writeRaw(t, st, w3)
	now = time.UnixMilli(start3 + width)
	c := openStore(t, addr)
	d := newEngine(t, c, &now)
	if err := d.Observe(ctx, w3); err != nil {
		t.Fatal(err)
	}
	end3 := start3 + width
	if got := instant(t, qa, "count_over_time(site_cpu_busy[30s])", end3); len(got) != 0 {
		t.Fatalf("window 3 stored though its write never ran: %v", got)
	}
	written := counterValue(b.m.written)
	if err := b.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := counterValue(b.m.written) - written; n != 4 {
		t.Fatalf("%v partials written, want 4 (one per partition)", n)
	}
	if err := sameValues(instant(t, qa, "site_cpu_busy", end3), instant(t, qa, raw, end3)); err != nil {
		t.Fatalf("window 3 after the loop wrote it: %v", err)
	}
	// Written: nothing more to write.
	if err := b.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
	if n := counterValue(b.m.written) - written; n != 4 {
		t.Fatalf("%v partials written after the confirmation, want still 4", n)
	}
	// Window 1's state expires (preagg.late); a host arriving after that
	// is counted too late and leaves the stored partial as it was.
	before := instant(t, qa, "site_cpu_busy", end1)
	for p := range 4 {
		stB.Client().Del(ctx, b.hashKey(&b.cfg.Rules[0], p, end1))
	}
	stranger := frame(host{name: "h999", site: "s0", part: 0}, 999, start1)
	if err := b.Observe(ctx, []Frame{stranger}); err != nil {
		t.Fatal(err)
	}
	if n := counterValue(b.m.tooLate); n != 1 {
		t.Fatalf("too-late hosts %v, want 1", n)
	}
	if err := sameValues(instant(t, qa, "site_cpu_busy", end1), before); err != nil {
		t.Fatalf("a host after the state expired changed window 1: %v", err)
	}
	// Other ops over the same partials.
	for q, want := range map[string]string{
		"site_cpu_busy:count": `count by (site) (node_cpu_seconds_total:avg{mode!="idle"})`,
		"site_cpu_busy:max":   `max by (site) (node_cpu_seconds_total:avg{mode!="idle"})`,
		"site_cpu_busy:min":   `min by (site) (node_cpu_seconds_total:avg{mode!="idle"})`,
		"site_cpu_busy:avg":   `avg by (site) (node_cpu_seconds_total:avg{mode!="idle"})`,
	} {
		if err := sameValues(instant(t, qa, q, end2), instant(t, qa, want, end2)); err != nil {
			t.Errorf("%s vs %s: %v", q, want, err)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rules: []Rule{{Name: "x", Op: "median", Select: "m"}}}, "preagg.rules[0]: op"},
		{Config{Rules: []Rule{{Name: "x:y", Op: "sum", Select: "m"}}}, "preagg.rules[0]: name"},
		{Config{Rules: []Rule{{Name: "x", Op: "sum", Select: `{mode="a"}`}}}, "preagg.rules[0]: select"},
		{Config{Rules: []Rule{{Name: "x", Op: "sum", Select: "m", By: []string{"instance"}}}}, "preagg.rules[0]: by"},
		{Config{CloseShare: 1.5}, "preagg.close_share"},
		{Config{Deadline: time.Hour, Late: time.Minute}, "preagg.late"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %q", tc.cfg, err, tc.want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}
