package query

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

// TestTSDBStatus checks /api/v1/status/tsdb's Prometheus shape and the
// store's numbers in it.
func TestTSDBStatus(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	start := time.Now().Add(-time.Hour).UnixMilli() / 60_000 * 60_000
	for _, host := range []string{"h1", "h2", "h3"} {
		for w := range int64(2) {
			b := &codec.Batch{Version: codec.Version, Agent: "s1/" + host, Site: "s1", Host: host, Seq: uint64(w + 1),
				Start: start + w*60_000, Width: 60_000,
				Series: []codec.Series{{ID: 0, Name: "node_load1"}, {ID: 1, Name: "node_cpu_seconds_total", Kind: codec.Counter, Labels: []string{"cpu", "0"}},
					{ID: 2, Name: "node_cpu_seconds_total", Kind: codec.Counter, Labels: []string{"cpu", "1"}}},
				Rollups: []codec.Rollup{{ID: 0, Count: 60}, {ID: 1, Count: 60}, {ID: 2, Count: 60}}}
			if err := s.Apply(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	api := NewAPI(&Queryable{Store: s}, Limits{}, slog.New(slog.DiscardHandler))
	get := func(q string, want int) map[string]json.RawMessage {
		t.Helper()
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/status/tsdb"+q, nil))
		if rec.Code != want {
			t.Fatalf("%s: status %d, want %d: %s", q, rec.Code, want, rec.Body)
		}
		var resp struct {
			Status string
			Data   map[string]json.RawMessage
		}
		if err := json.NewDecoder(rec.Body).Decode(&resp); err != nil {
			t.Fatal(err)
		}
		return resp.Data
	}
	data := get("", 200)
	for _, k := range []string{"headStats", "seriesCountByMetricName", "labelValueCountByLabelName", "memoryInBytesByLabelName", "seriesCountByLabelValuePair", "edgepulse"} {
		if _, ok := data[k]; !ok {
			t.Errorf("data lacks %q: %v", k, data)
		}
	}
	var head headStats
	var byName, byLabel []tsdbStat
	var ep capacityStats
	json.Unmarshal(data["headStats"], &head)
	json.Unmarshal(data["seriesCountByMetricName"], &byName)
	json.Unmarshal(data["labelValueCountByLabelName"], &byLabel)
	json.Unmarshal(data["edgepulse"], &ep)
	if head.NumSeries != 9 || head.ChunkCount != 18 || head.MinTime > start || head.MaxTime < start+120_000 {
		t.Errorf("headStats %+v, want 9 series, 18 windows around %d", head, start)
	}
	if len(byName) != 2 || byName[0] != (tsdbStat{"node_cpu_seconds_total", 6}) || byName[1] != (tsdbStat{"node_load1", 3}) {
		t.Errorf("seriesCountByMetricName %v", byName)
	}
	// instance has 3 values, cpu 2, site 1.
	if len(byLabel) != 3 || byLabel[0] != (tsdbStat{"instance", 3}) || head.NumLabelPairs != 6 {
		t.Errorf("labelValueCountByLabelName %v, numLabelPairs %d", byLabel, head.NumLabelPairs)
	}
	if ep.StoredWindows != 18 || ep.Series != 9 || ep.UsedMemory <= 0 || ep.BytesPerWindow <= 0 || ep.Masters != 1 {
		t.Errorf("edgepulse %+v", ep)
	}
	json.Unmarshal(get("?limit=1", 200)["seriesCountByMetricName"], &byName)
	if len(byName) != 1 || byName[0].Name != "node_cpu_seconds_total" {
		t.Errorf("limit=1: seriesCountByMetricName %v", byName)
	}
	get("?limit=0", 400)
	get("?limit=x", 400)
	get("?limit=10001", 400)
}
