package testbench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// stack wraps the harness stack with query helpers.
type stack struct {
	*harness.Stack
	apiURL   string
	procRoot string
}

func startStack(t *testing.T, ctx context.Context, window string) *stack {
	t.Helper()
	dir := t.TempDir()
	procRoot := filepath.Join(dir, "proc")
	if err := harness.CopyTree("testdata/proc", procRoot); err != nil {
		t.Fatal(err)
	}
	hs, err := harness.StartStack(ctx, harness.StackOptions{Dir: dir, ProcRoot: procRoot, Window: window})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hs.Stop)
	return &stack{Stack: hs, apiURL: hs.APIURL, procRoot: procRoot}
}

// promResponse is the Prometheus HTTP API envelope.
type promResponse struct {
	Status    string   `json:"status"`
	Warnings  []string `json:"warnings"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

func get(t *testing.T, u string) (int, promResponse) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		t.Fatalf("%s: decoding response: %v", u, err)
	}
	return resp.StatusCode, pr
}

// rangeValues runs query_range over the last 10 minutes and returns the
// values of the single resulting series (nil when there is none yet).
func (s *stack) rangeValues(t *testing.T, query string) []float64 {
	t.Helper()
	now := time.Now()
	q := url.Values{
		"query": {query},
		"start": {strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)},
		"end":   {strconv.FormatInt(now.Add(time.Minute).Unix(), 10)},
		"step":  {"1"},
	}
	code, pr := get(t, s.apiURL+"/api/v1/query_range?"+q.Encode())
	if code != 200 || pr.Status != "success" {
		t.Fatalf("query_range %s: %d %+v", query, code, pr)
	}
	if len(pr.Data.Result) == 0 {
		return nil
	}
	if len(pr.Data.Result) > 1 {
		t.Fatalf("query_range %s: %d series, want 1", query, len(pr.Data.Result))
	}
	var out []float64
	for _, v := range pr.Data.Result[0].Values {
		f, err := strconv.ParseFloat(v[1].(string), 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// TestEndToEnd runs agent → leaf → hub → Redis → query API on real
// processes over a fixture /proc tree and checks the fixture's numbers
// come back out of /api/v1/query_range.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startStack(t, ctx, "2s")

	// Wait for the first windows to arrive.
	err := harness.WaitFor(ctx, 60*time.Second, func() error {
		if v := s.rangeValues(t, `node_load1{site="siteA",instance="hostA"}`); len(v) == 0 {
			return fmt.Errorf("no node_load1 yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, s.Logs())
	}

	// The fixture's constant values, as the default wire options carry
	// them: within the wire precision (a ratio of two: within twice that).
	prec := codec.DefaultWireOptions().Precision
	near := func(got, want float64) bool { return math.Abs(got-want) <= 2*prec*(1+prec)*math.Abs(want) }
	checks := map[string]float64{
		`node_load1{site="siteA",instance="hostA"}`: 1.25,
		`node_load15`:                                                 0.5,
		`node_memory_MemTotal_bytes`:                                  8000000 * 1024,
		`node_memory_MemAvailable_bytes`:                              4000000 * 1024,
		`node_cpu_seconds_total{cpu="0",mode="user"}`:                 150,
		`node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes`: 0.5,
	}
	for q, want := range checks {
		v := s.rangeValues(t, q)
		if len(v) == 0 {
			t.Errorf("%s: no data", q)
			continue
		}
		for _, got := range v {
			if !near(got, want) {
				t.Errorf("%s = %v, want %v within %v", q, got, want, prec)
				break
			}
		}
	}

	// Change the load and check the window statistics follow: a complete
	// 2 s window at 1 s collection holds 2 samples, and once the new value
	// is in, max reaches it.
	if err := harness.WriteFileAtomic(filepath.Join(s.procRoot, "loadavg"), []byte("3.50 0.75 0.50 2/345 6789\n")); err != nil {
		t.Fatal(err)
	}
	err = harness.WaitFor(ctx, 30*time.Second, func() error {
		mx := s.rangeValues(t, `node_load1:max`)
		if len(mx) == 0 || !near(mx[len(mx)-1], 3.5) {
			return fmt.Errorf("node_load1:max = %v, want it to end at 3.5", mx)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	counts := s.rangeValues(t, `node_load1:count`)
	full := false
	for _, c := range counts {
		if c > 2 {
			t.Fatalf("node_load1:count has a window with %v samples; a 2 s window at 1 s holds at most 2", c)
		}
		full = full || c == 2
	}
	if !full {
		t.Fatalf("no complete window among node_load1:count = %v", counts)
	}

	// A counter's rate over its stored windows: the fixture's counters do
	// not move, so the rate is 0, and rate() must return a series.
	if v := s.rangeValues(t, `rate(node_cpu_seconds_total{cpu="0",mode="user"}[1m])`); len(v) == 0 || v[len(v)-1] != 0 {
		t.Fatalf("rate(...) = %v, want a series ending at 0", v)
	}

	// Bad PromQL is a 400 that carries the parser's message.
	code, pr := get(t, s.apiURL+"/api/v1/query?query="+url.QueryEscape("sum(node_load1"))
	if code != 400 || pr.ErrorType != "bad_data" || pr.Error == "" {
		t.Fatalf("bad query: %d %+v", code, pr)
	}
	// A constant host raises no incident.
	var alerts struct {
		Data struct{ Alerts []any }
	}
	getJSON(t, s.apiURL+"/api/v1/alerts", &alerts)
	if len(alerts.Data.Alerts) != 0 {
		t.Fatalf("incidents on a constant fixture: %v", alerts.Data.Alerts)
	}

	// The labels and label values endpoints see the stored series.
	var names struct{ Data []string }
	getJSON(t, s.apiURL+"/api/v1/labels", &names)
	if !slices.Contains(names.Data, "instance") || !slices.Contains(names.Data, "cpu") {
		t.Fatalf("/api/v1/labels = %v, want instance and cpu among them", names.Data)
	}
	var values struct{ Data []string }
	getJSON(t, s.apiURL+"/api/v1/label/__name__/values", &values)
	if !slices.Contains(values.Data, "node_load1:p99") || !slices.Contains(values.Data, "node_memory_MemFree_bytes") {
		t.Fatalf("__name__ values = %v", values.Data)
	}
	var series struct{ Data []map[string]string }
	getJSON(t, s.apiURL+"/api/v1/series?match[]="+url.QueryEscape(`node_cpu_seconds_total{mode="idle"}`), &series)
	if len(series.Data) != 2 {
		t.Fatalf("/api/v1/series idle cpus = %v, want 2 (cpu 0 and 1)", series.Data)
	}

	// Detail on demand: a 5-minute range at a 1 s step is finer than the
	// 2 s windows, so the query API fetches the agent's raw 1 s samples
	// over the leaf link and says so; at the windows' own step it does not.
	detail := func(step string) promResponse {
		now := time.Now()
		q := url.Values{"query": {`node_load1{site="siteA",instance="hostA"}`}, "step": {step},
			"start": {strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}}
		code, pr := get(t, s.apiURL+"/api/v1/query_range?"+q.Encode())
		if code != 200 || len(pr.Data.Result) != 1 {
			t.Fatalf("query_range step %s: %d %+v", step, code, pr)
		}
		return pr
	}
	fetched := func(pr promResponse) bool {
		for _, w := range pr.Warnings {
			if strings.Contains(w, "raw samples fetched from agent siteA/hostA") {
				return true
			}
		}
		return false
	}
	err = harness.WaitFor(ctx, 30*time.Second, func() error {
		pr := detail("1")
		if !fetched(pr) {
			return fmt.Errorf("step 1s: warnings %q, want the raw samples fetched from agent siteA/hostA", pr.Warnings)
		}
		if v := pr.Data.Result[0].Values; len(v) < 8 || v[len(v)-1][1] != "3.5" {
			return fmt.Errorf("step 1s: %d points ending %v, want ≥ 8 raw 1 s samples ending at the exact 3.5", len(v), v[len(v)-1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pr := detail("2"); fetched(pr) {
		t.Fatalf("step 2s (the window) fetched raw detail: %q", pr.Warnings)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
}
