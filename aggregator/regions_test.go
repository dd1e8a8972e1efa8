package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/global"
	"github.com/edgepulse/edgepulse/aggregator/preagg"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// startRegion starts an aggregator of region name over its own Redis,
// with a pre-aggregation rule and the given peers.
func startRegion(t *testing.T, name string, peers []global.Peer) *Aggregator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	cfg := DefaultConfig()
	cfg.Name = "hub-" + name
	cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, t.TempDir()
	cfg.Redis.Addr = r.Addr
	cfg.HTTP = "127.0.0.1:0"
	cfg.Regions = global.Config{Name: name, Peers: peers, Timeout: 2 * time.Second}
	cfg.Preagg = preagg.Config{Deadline: time.Second, Rules: []preagg.Rule{{Name: "load_sum", Op: "sum", Select: "node_load1", By: []string{"site"}}}}
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

func loadFrame(site, host string, seq uint64, v float64) []byte {
	return keyframe(&codec.Batch{Agent: site + "/" + host, Site: site, Host: host, Seq: seq,
		Start: testBase + int64(seq)*60_000, Width: 60_000, Series: []codec.Series{{ID: 0, Name: "node_load1"}},
		Rollups: []codec.Rollup{{ID: 0, Count: 60, Sum: 60 * v, Min: v, Max: v, First: v, Last: v}}})
}

func getJSON(t *testing.T, u string, into any) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("%s: %v: %s", u, err, b)
		}
	}
	return string(b)
}

// TestRegionsGlue runs two regions' aggregators: each pre-aggregates its
// site as frames are applied, region a's /global/api/v1/ answers over
// both with region labels while /api/v1/ stays local, and /metrics has the
// path latency histograms and the new counters.
func TestRegionsGlue(t *testing.T) {
	b := startRegion(t, "b", nil)
	a := startRegion(t, "a", []global.Peer{{Name: "b", URL: "http://" + b.HTTPAddr()}})
	ctx := context.Background()
	for _, x := range []struct {
		agg  *Aggregator
		site string
	}{{a, "s1"}, {b, "s2"}} {
		_, js := connect(t, x.agg)
		for seq := uint64(1); seq <= 3; seq++ {
			for h := range 3 {
				host := fmt.Sprintf("h%d", h)
				if _, err := js.Publish(ctx, "tele."+x.site+"."+host, loadFrame(x.site, host, seq, float64(h+1)),
					jetstream.WithMsgID(fmt.Sprintf("%s/%s/%d", x.site, host, seq))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	type resp struct {
		Status   string   `json:"status"`
		Warnings []string `json:"warnings"`
		Data     struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	at := fmt.Sprint(float64(testBase+4*60_000) / 1000)
	query := func(base, q string) resp {
		var r resp
		getJSON(t, base+"/api/v1/query?"+url.Values{"query": {q}, "time": {at}}.Encode(), &r)
		return r
	}
	apiA := "http://" + a.HTTPAddr()
	// The rule's window 3 covers the three hosts: 1 + 2 + 3.
	err := harness.WaitFor(ctx, 30*time.Second, func() error {
		r := query(apiA, "load_sum")
		if len(r.Data.Result) != 1 || r.Data.Result[0].Value[1] != "6" || r.Data.Result[0].Metric["site"] != "s1" {
			return fmt.Errorf("load_sum in region a: %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := query(apiA, "count by (site) (node_load1)"); len(r.Data.Result) != 1 {
		t.Fatalf("local query of a sees %+v, want s1 only", r.Data.Result)
	}
	err = harness.WaitFor(ctx, 30*time.Second, func() error {
		r := query(apiA+"/global", "load_sum")
		got := map[string]string{}
		for _, s := range r.Data.Result {
			got[s.Metric["site"]+"@"+s.Metric["region"]] = s.Value[1].(string)
		}
		if got["s1@a"] != "6" || got["s2@b"] != "6" || len(r.Warnings) > 0 {
			return fmt.Errorf("global load_sum: %v warnings %v", got, r.Warnings)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := getJSON(t, apiA+"/metrics", nil)
	for _, want := range []string{
		`edgepulse_path_publish_to_applied_seconds_bucket{site="s1"`,
		`edgepulse_path_window_end_to_applied_seconds_count{site="s1"} 9`,
		`edgepulse_path_applied_to_queryable_seconds_count{site="s1"} 9`,
		`edgepulse_preagg_windows_closed_total{by=`,
		`edgepulse_global_region_requests_total{outcome="ok"}`,
		`edgepulse_aggregator_batches_applied_total 9`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
