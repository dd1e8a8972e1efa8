package query

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func do(api http.Handler, path string, q url.Values, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path+"?"+q.Encode(), nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	return rec
}

// TestBearerToken: with a token set, every endpoint wants it.
func TestBearerToken(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{}, slog.New(slog.DiscardHandler))
	api.SetBearerToken("s3cret-token-0123456789")
	q := url.Values{"query": {"node_load1"}}
	tests := []struct {
		name   string
		path   string
		header []string
		want   int
	}{
		{"no header", "/api/v1/query", nil, 401},
		{"wrong token", "/api/v1/query", []string{"Authorization", "Bearer nope"}, 401},
		{"token prefix", "/api/v1/query", []string{"Authorization", "Bearer s3cret"}, 401},
		{"basic auth", "/api/v1/query", []string{"Authorization", "Basic czNjcmV0"}, 401},
		{"labels without token", "/api/v1/labels", nil, 401},
		{"good token", "/api/v1/query", []string{"Authorization", "Bearer s3cret-token-0123456789"}, 200},
		{"good token labels", "/api/v1/labels", []string{"Authorization", "Bearer s3cret-token-0123456789"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(api, tt.path, q, tt.header...)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if st := api.GuardStats(); st.Unauthorized != 5 {
		t.Fatalf("unauthorized = %d, want 5", st.Unauthorized)
	}
}

// TestRequestLimits: each limit is a 4xx naming it.
func TestRequestLimits(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{MaxPoints: 100, MaxRange: 24 * time.Hour, MaxQueryBytes: 64, MaxMatchers: 2},
		slog.New(slog.DiscardHandler))
	long := strings.Repeat("x", 65)
	many := url.Values{"match[]": {"a", "b", "c"}}
	tests := []struct {
		name string
		path string
		q    url.Values
		want int
		says string
	}{
		{"points", "/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"1000"}, "step": {"1"}}, 400, "maximum resolution"},
		{"range", "/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"172800"}, "step": {"3600"}}, 400, "max_range"},
		{"series range", "/api/v1/series", url.Values{"match[]": {"up"}, "start": {"0"}, "end": {"172800"}}, 400, "max_range"},
		{"query bytes", "/api/v1/query", url.Values{"query": {long}}, 400, "max_query_bytes"},
		{"selector bytes", "/api/v1/series", url.Values{"match[]": {long}}, 400, "max_query_bytes"},
		{"matchers", "/api/v1/labels", many, 400, "max_matchers"},
		{"huge URL", "/api/v1/query", url.Values{"query": {strings.Repeat("y", 5000)}}, 414, "URL query"},
		{"end before start", "/api/v1/series", url.Values{"match[]": {"up"}, "start": {"100"}, "end": {"10"}}, 400, "before start"},
		{"within limits", "/api/v1/query_range", url.Values{"query": {"node_load1"}, "start": {"1700000000"}, "end": {"1700000600"}, "step": {"60"}}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(api, tt.path, tt.q)
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.says) {
				t.Fatalf("status %d %s, want %d naming %q", rec.Code, rec.Body, tt.want, tt.says)
			}
		})
	}
	if st := api.GuardStats(); st.Limited != 8 {
		t.Fatalf("limited = %d, want 8", st.Limited)
	}
}

// TestRequestTimeout: a request that outlives limits.timeout is a 503
// timeout, on the query endpoints and the metadata ones alike.
func TestRequestTimeout(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{Timeout: time.Nanosecond}, slog.New(slog.DiscardHandler))
	for _, path := range []string{"/api/v1/query", "/api/v1/series"} {
		rec := do(api, path, url.Values{"query": {"node_load1"}, "match[]": {"node_load1"}})
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s: status %d, want 503: %s", path, rec.Code, rec.Body)
		}
	}
	if st := api.GuardStats(); st.Timeouts != 2 {
		t.Fatalf("timeouts = %d, want 2", st.Timeouts)
	}
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		l    Limits
		want string
	}{
		{Limits{}, ""},
		{Limits{MaxSeries: -1}, "limits.max_series"},
		{Limits{Timeout: time.Hour}, "limits.timeout"},
		{Limits{MaxQueryBytes: 2 << 20}, "limits.max_query_bytes"},
		{Limits{MaxConcurrent: -1}, "limits.max_concurrent"},
		{Limits{QueueTimeout: time.Hour}, "limits.queue_timeout"},
		{Limits{HeavySlots: 5000}, "limits.heavy_slots"},
		{Limits{MaxSamples: 1000}, "limits.heavy_samples"},
		{Limits{MaxSamples: 1000, HeavySamples: 500}, ""},
	}
	for _, tt := range tests {
		err := tt.l.Validate()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.l, err, tt.want)
		}
	}
	if err := (Auth{BearerToken: "short"}).Validate(); err == nil {
		t.Error("a 5-byte token was accepted")
	}
}

// FuzzQueryParams sends arbitrary query strings to every endpoint: no
// panic, always a JSON answer in the Prometheus envelope, and never a 500.
func FuzzQueryParams(f *testing.F) {
	api := NewAPI(&Queryable{Store: fill(f)}, Limits{Timeout: 250 * time.Millisecond}, slog.New(slog.DiscardHandler))
	f.Add(uint8(0), "query=node_load1&time=1700000600", "")
	f.Add(uint8(1), "query=rate(node_cpu_seconds_total[5m])&start=1700000000&end=1700000600&step=15", "")
	f.Add(uint8(2), "match[]=node_load1{instance=~\"h.*\"}&start=0&end=2e9", "")
	f.Add(uint8(3), "match[]={site=\"s1\"}", "")
	f.Add(uint8(4), "", "instance")
	f.Add(uint8(1), "query=x&start=1e300&end=-1e300&step=NaN", "")
	f.Add(uint8(0), "query=sum(node_load1)%20@%20end()&time=2025-01-01T00:00:00Z", "")
	paths := []string{"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/label/%s/values", "/api/v1/alerts", "/api/v1/status/buildinfo"}
	f.Fuzz(func(t *testing.T, which uint8, rawQuery, label string) {
		path := paths[int(which)%len(paths)]
		if strings.Contains(path, "%s") {
			path = strings.Replace(path, "%s", url.PathEscape(label), 1)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path, req.URL.RawQuery = path, rawQuery
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s?%s: status %d: %s", path, rawQuery, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed || rec.Code/100 == 3 {
			return // the mux's plain answer for a path it does not serve or cleans
		}
		var env struct{ Status string }
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Status == "" {
			t.Fatalf("%s?%s: status %d, body not the JSON envelope: %q", path, rawQuery, rec.Code, rec.Body)
		}
	})
}
