package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client speaks the Prometheus HTTP API to one system (Prometheus or the
// aggregator's query API), as Grafana's data source does.
type Client struct {
	Base string // http://host:port
	HTTP *http.Client
}

// Sample is one series' value.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// maxResponse bounds a response body read.
const maxResponse = 64 << 20

func (c *Client) get(ctx context.Context, path string, q url.Values, data any) error {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return err
	}
	req.URL.RawQuery = q.Encode()
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var env struct {
		Status    string          `json:"status"`
		Error     string          `json:"error"`
		ErrorType string          `json:"errorType"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d, not JSON: %.200s", path, resp.StatusCode, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// LabelValues answers label_values(match, label).
func (c *Client) LabelValues(ctx context.Context, label, match string) ([]string, error) {
	q := url.Values{}
	if match != "" {
		q.Set("match[]", match)
	}
	var out []string
	err := c.get(ctx, "/api/v1/label/"+url.PathEscape(label)+"/values", q, &out)
	return out, err
}

type result struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// Query runs an instant query; a scalar comes back as one unlabelled sample.
func (c *Client) Query(ctx context.Context, expr string, at time.Time) ([]Sample, error) {
	var r result
	q := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	if err := c.get(ctx, "/api/v1/query", q, &r); err != nil {
		return nil, err
	}
	switch r.ResultType {
	case "vector":
		var v []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(r.Result, &v); err != nil {
			return nil, err
		}
		out := make([]Sample, 0, len(v))
		for _, s := range v {
			out = append(out, Sample{Labels: s.Metric, Value: parseValue(s.Value[1])})
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(r.Result, &v); err != nil {
			return nil, err
		}
		return []Sample{{Labels: map[string]string{}, Value: parseValue(v[1])}}, nil
	}
	return nil, fmt.Errorf("instant query: result type %q", r.ResultType)
}

// QueryRange runs a range query and returns each series' last point.
func (c *Client) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Sample, error) {
	var r result
	f := func(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
	q := url.Values{"query": {expr}, "start": {f(start)}, "end": {f(end)}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	if err := c.get(ctx, "/api/v1/query_range", q, &r); err != nil {
		return nil, err
	}
	var m []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	}
	if err := json.Unmarshal(r.Result, &m); err != nil {
		return nil, err
	}
	out := make([]Sample, 0, len(m))
	for _, s := range m {
		if len(s.Values) > 0 {
			out = append(out, Sample{Labels: s.Metric, Value: parseValue(s.Values[len(s.Values)-1][1])})
		}
	}
	return out, nil
}

func parseValue(v any) float64 {
	s, _ := v.(string)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}
