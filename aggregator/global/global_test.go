package global

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

func regionStore(t *testing.T) *store.Store {
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

// put stores one gauge window per (site, host, window) in s.
func put(t *testing.T, s *store.Store, site, host string, starts []int64, v float64) {
	t.Helper()
	for i, st := range starts {
		b := &codec.Batch{Agent: site + "/" + host, Site: site, Host: host, Seq: uint64(st / 60000), Start: st, Width: 60000,
			Series:  []codec.Series{{ID: 0, Name: "temp"}},
			Rollups: []codec.Rollup{{ID: 0, Count: 1, Sum: v + float64(i), Min: v + float64(i), Max: v + float64(i), First: v + float64(i), Last: v + float64(i)}}}
		if err := s.Apply(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func eval(t *testing.T, q *Queryable, expr string, at int64) (promql.Vector, []string) {
	t.Helper()
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	qry, err := eng.NewInstantQuery(context.Background(), q, nil, expr, time.UnixMilli(at))
	if err != nil {
		t.Fatal(err)
	}
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	vec, _ := res.Vector()
	ws, _ := res.Warnings.AsStrings("", 10, 10)
	return vec, ws
}

// TestFanOut: region a (local) and b (a real query API over its own
// Redis) answer together with region labels; site s2 fell back from a to
// b for two windows, one of them stored in both, and is counted once; a
// region that answers too late gives a partial result with a warning.
func TestFanOut(t *testing.T) {
	sa, sb := regionStore(t), regionStore(t)
	base := time.Now().Add(-30*time.Minute).UnixMilli() / 60000 * 60000
	w := func(i ...int) []int64 {
		var out []int64
		for _, k := range i {
			out = append(out, base+int64(k)*60000)
		}
		return out
	}
	put(t, sa, "s1", "h1", w(0, 1, 2, 3), 10)
	put(t, sb, "s3", "h3", w(0, 1, 2, 3), 30)
	put(t, sa, "s2", "h2", w(0, 1), 20) // home
	put(t, sb, "s2", "h2", w(1, 2), 20) // fallback; window 1 in both
	put(t, sa, "s2", "h2", w(3), 20)    // home again
	apiB := query.NewAPI(&query.Queryable{Store: sb}, query.Limits{}, slog.Default())
	srvB := httptest.NewServer(apiB)
	defer srvB.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)

	g, err := New(Config{Name: "a", Peers: []Peer{{Name: "b", URL: srvB.URL}}, Timeout: 2 * time.Second}, &query.Queryable{Store: sa})
	if err != nil {
		t.Fatal(err)
	}
	end := base + 4*60000
	vec, ws := eval(t, g, "temp", end)
	got := map[string]string{}
	for _, s := range vec {
		got[s.Metric.Get("site")] = s.Metric.Get(RegionLabel)
	}
	if len(ws) != 0 || got["s1"] != "a" || got["s3"] != "b" || got["s2"] != "a" || len(vec) != 3 {
		t.Fatalf("got %v (warnings %v), want s1 and s2 in a, s3 in b", vec, ws)
	}
	vec, _ = eval(t, g, `count_over_time(temp{site="s2"}[4m])`, end)
	if len(vec) != 1 || vec[0].F != 4 {
		t.Fatalf("s2 windows over both regions: %v, want 4 (window 1 stored twice counted once)", vec)
	}
	vec, _ = eval(t, g, `sum(temp{region="b"})`, end)
	if len(vec) != 1 || vec[0].F != 33+21 {
		t.Fatalf("region b only: %v, want 54 (s3's last window, s2's last fallback window)", vec)
	}

	g2, err := New(Config{Name: "a", Peers: []Peer{{Name: "b", URL: srvB.URL}, {Name: "c", URL: slow.URL}}, Timeout: 300 * time.Millisecond}, &query.Queryable{Store: sa})
	if err != nil {
		t.Fatal(err)
	}
	vec, ws = eval(t, g2, "sum(temp)", end)
	if len(vec) != 1 || vec[0].F != 13+20+33 {
		t.Fatalf("partial sum %v, want a and b's %d", vec, 13+20+33)
	}
	if len(ws) != 1 || !strings.Contains(ws[0], `region "c"`) || !strings.Contains(ws[0], "no answer in time") {
		t.Fatalf("warnings %v, want one naming region c's timeout", ws)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Peers: []Peer{{Name: "b", URL: "http://x"}}}, "regions.name"},
		{Config{Name: "a", Peers: []Peer{{Name: "b", URL: "ftp://x"}}}, "regions.peers[0].url"},
		{Config{Name: "a", Peers: []Peer{{Name: "a", URL: "http://x"}}}, "regions.peers[0].name"},
		{Config{Name: "a", Timeout: time.Hour}, "regions.timeout"},
		{Config{Name: "a", MaxConcurrent: -1}, "regions.max_concurrent"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
}
