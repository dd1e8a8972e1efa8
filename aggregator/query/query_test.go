package query

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// t0 is a window boundary six hours ago (Unix ms): stored blocks expire at
// their end plus the retention, in the windows' own time.
var t0 = time.Now().Add(-6*time.Hour).UnixMilli() / store.HourMs * store.HourMs

// openStore starts a Redis of the test's own and opens a store on it.
func openStore(t testing.TB) *store.Store {
	t.Helper()
	r, err := harness.StartRedis(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	s, err := store.Open(context.Background(), store.Options{Addr: r.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fill stores 10 one-minute windows for two hosts: each CPU's user
// counter grows by host-specific rates, memory and load are constants.
func fill(t testing.TB) *store.Store {
	t.Helper()
	ctx := context.Background()
	s := openStore(t)
	for h, host := range []string{"h1", "h2"} {
		rate := float64(h + 1) // h1 burns 1 cpu-second per second per cpu, h2 two
		for w := range int64(10) {
			b := &codec.Batch{Version: codec.Version, Agent: "s1/" + host, Site: "s1", Host: host, Seq: uint64(w + 1),
				Start: t0 + w*60_000, Width: 60_000}
			id := uint32(0)
			add := func(name string, kind codec.Kind, last float64, q []float64, labels ...string) {
				b.Series = append(b.Series, codec.Series{ID: id, Name: name, Kind: kind, Labels: labels})
				b.Rollups = append(b.Rollups, codec.Rollup{ID: id, Count: 60, Sum: 60 * last, Min: last, Max: last, First: last, Last: last, Quantiles: q})
				id++
			}
			for _, cpu := range []string{"0", "1"} {
				add("node_cpu_seconds_total", codec.Counter, rate*float64((w+1)*60), nil, "cpu", cpu, "mode", "user")
				add("node_cpu_seconds_total", codec.Counter, 1000+float64((w+1)*60), nil, "cpu", cpu, "mode", "idle")
			}
			add("node_memory_MemTotal_bytes", codec.Gauge, 8e9, nil)
			add("node_memory_MemAvailable_bytes", codec.Gauge, 2e9*float64(h+1), nil)
			add("node_load1", codec.Gauge, float64(h+1), []float64{0.5, 0.9, 0.99 * float64(h+1)})
			if err := s.Apply(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

type result struct {
	Metric map[string]string
	Value  [2]any
}

func instant(t *testing.T, api http.Handler, q string, wantCode int) []result {
	t.Helper()
	u := "/api/v1/query?" + url.Values{"query": {q}, "time": {strconv.FormatInt((t0+600_000)/1000, 10)}}.Encode()
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
	if rec.Code != wantCode {
		t.Fatalf("%s: status %d, want %d: %s", q, rec.Code, wantCode, rec.Body)
	}
	var resp struct {
		Status, Error string
		Data          struct{ Result []result }
	}
	json.NewDecoder(rec.Body).Decode(&resp)
	return resp.Data.Result
}

func value(t *testing.T, r result) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(r.Value[1].(string), 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestDashboardQueries runs node_exporter dashboard queries through the
// promql engine over Redis and checks the numbers.
func TestDashboardQueries(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{}, slog.New(slog.DiscardHandler))
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

	rs := instant(t, api, `rate(node_cpu_seconds_total{mode!="idle"}[5m])`, 200)
	if len(rs) != 4 {
		t.Fatalf("rate: %d series, want 4 (2 hosts × 2 cpus): %v", len(rs), rs)
	}
	for _, r := range rs {
		want := map[string]float64{"h1": 1, "h2": 2}[r.Metric["instance"]]
		if !near(value(t, r), want) || r.Metric["site"] != "s1" || r.Metric["mode"] != "user" {
			t.Errorf("rate %v = %v, want %v", r.Metric, value(t, r), want)
		}
	}
	rs = instant(t, api, `sum by (instance) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))`, 200)
	if len(rs) != 2 {
		t.Fatalf("sum by: %v", rs)
	}
	for _, r := range rs {
		if want := map[string]float64{"h1": 2, "h2": 4}[r.Metric["instance"]]; !near(value(t, r), want) {
			t.Errorf("sum by %v = %v, want %v", r.Metric, value(t, r), want)
		}
	}
	rs = instant(t, api, `node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes`, 200)
	for _, r := range rs {
		if want := map[string]float64{"h1": 0.25, "h2": 0.5}[r.Metric["instance"]]; len(rs) != 2 || !near(value(t, r), want) {
			t.Errorf("ratio %v = %v, want %v", r.Metric, value(t, r), want)
		}
	}
	rs = instant(t, api, `topk(1, node_load1)`, 200)
	if len(rs) != 1 || rs[0].Metric["instance"] != "h2" || value(t, rs[0]) != 2 {
		t.Errorf("topk: %v", rs)
	}
	rs = instant(t, api, `node_load1:p99{instance="h2"}`, 200)
	if len(rs) != 1 || !near(value(t, rs[0]), 1.98) {
		t.Errorf("p99: %v", rs)
	}
	rs = instant(t, api, `node_load1:count`, 200)
	if len(rs) != 2 || value(t, rs[0]) != 60 {
		t.Errorf("count: %v", rs)
	}
	// Without a name matcher a selector gets the stored series, not their
	// statistics' views; with one it gets every name it matches.
	rs = instant(t, api, `{instance="h2"}`, 200)
	for _, r := range rs {
		if strings.Contains(r.Metric["__name__"], ":") {
			t.Errorf("{instance=\"h2\"} selected the view %v", r.Metric)
		}
	}
	if len(rs) == 0 {
		t.Error(`{instance="h2"} selected nothing`)
	}
	all := instant(t, api, `{__name__=~"node_load1.*", instance="h2"}`, 200)
	if len(all) < 9 {
		t.Errorf(`{__name__=~"node_load1.*"} selected %d series, want node_load1 and its statistics`, len(all))
	}

	// Bad PromQL is a 400 with the parser's words; an unknown metric is
	// an empty result, not an error.
	instant(t, api, `sum(rate(node_load1[5m])`, 400)
	if rs := instant(t, api, `no_such_metric`, 200); len(rs) != 0 {
		t.Errorf("unknown metric: %v", rs)
	}
}

// TestSeriesLimit: a selector matching more series than allowed is a 422
// naming the limit.
func TestSeriesLimit(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{MaxSeries: 3}, slog.New(slog.DiscardHandler))
	instant(t, api, `node_cpu_seconds_total`, 422)
	instant(t, api, `node_load1`, 200)
}

// TestHourlyTierQuery: a range query with a step of an hour or more reads
// the hourly tier (compacted hours, and the hour in progress merged from
// its minute windows); a finer step reads the minute windows.
func TestHourlyTierQuery(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	h0 := int64(t0) / store.HourMs * store.HourMs
	for w := range int64(150) { // two whole hours and half of a third
		v := float64(w/60 + 1) // 1 in the first hour, 2 in the second, 3 after
		b := &codec.Batch{Version: codec.Version, Agent: "s1/h1", Site: "s1", Host: "h1", Seq: uint64(w + 1),
			Start: h0 + w*60_000, Width: 60_000,
			Series:  []codec.Series{{ID: 1, Name: "node_load1"}},
			Rollups: []codec.Rollup{{ID: 1, Count: 60, Sum: 60 * v, Min: v, Max: v + float64(w%60)/100, First: v, Last: v}}}
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	api := NewAPI(&Queryable{Store: s}, Limits{}, slog.New(slog.DiscardHandler))
	rangeQuery := func(q string, step int64) []float64 {
		t.Helper()
		u := "/api/v1/query_range?" + url.Values{"query": {q}, "start": {strconv.FormatInt((h0+store.HourMs)/1000, 10)},
			"end": {strconv.FormatInt((h0+3*store.HourMs)/1000, 10)}, "step": {strconv.FormatInt(step, 10)}}.Encode()
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
		if rec.Code != 200 {
			t.Fatalf("%s: status %d: %s", q, rec.Code, rec.Body)
		}
		var resp struct {
			Data struct{ Result []struct{ Values [][2]any } }
		}
		json.NewDecoder(rec.Body).Decode(&resp)
		if len(resp.Data.Result) != 1 {
			t.Fatalf("%s step %d: %d series", q, step, len(resp.Data.Result))
		}
		var out []float64
		for _, v := range resp.Data.Result[0].Values {
			f, _ := strconv.ParseFloat(v[1].(string), 64)
			out = append(out, f)
		}
		return out
	}
	tests := []struct {
		q    string
		step int64
		want []float64
	}{
		// Evaluated at the ends of hours 1, 2 and 3 (the third in progress,
		// 30 windows): the hourly points.
		{"node_load1:count", 3600, []float64{3600, 3600, 1800}},
		{"node_load1:max", 3600, []float64{1.59, 2.59, 3.29}},
		{"node_load1:avg", 3600, []float64{1, 2, 3}},
		// A 30 min step still reads minute windows (none within the
		// lookback of the range's end, 30 minutes after the last).
		{"node_load1:count", 1800, []float64{60, 60, 60, 60}},
	}
	for _, tt := range tests {
		got := rangeQuery(tt.q, tt.step)
		if len(got) != len(tt.want) {
			t.Fatalf("%s step %d = %v, want %v", tt.q, tt.step, got, tt.want)
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9 {
				t.Fatalf("%s step %d = %v, want %v", tt.q, tt.step, got, tt.want)
			}
		}
	}
}

func TestHourlyChoice(t *testing.T) {
	s := fill(t)
	q := &Queryable{Store: s}
	now := time.Unix(t0/1000, 0).Add(30 * 24 * time.Hour)
	tests := []struct {
		step, start int64
		want        bool
	}{
		{60_000, now.Add(-time.Hour).UnixMilli(), false},
		{store.HourMs, now.Add(-time.Hour).UnixMilli(), true},
		{60_000, now.Add(-16 * 24 * time.Hour).UnixMilli(), true}, // older than the 15-day retention
		{60_000, now.Add(-14 * 24 * time.Hour).UnixMilli(), false},
	}
	for _, tt := range tests {
		if got := q.Hourly(tt.step, tt.start, now); got != tt.want {
			t.Errorf("Hourly(step %d, start %d) = %v, want %v", tt.step, tt.start, got, tt.want)
		}
	}
}
