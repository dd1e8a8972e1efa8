package global

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/edgepulse/edgepulse/aggregator/query"
)

// apiResponse is the part of a Prometheus API answer a range-vector
// instant query returns.
type apiResponse struct {
	Status    string   `json:"status"`
	Error     string   `json:"error"`
	ErrorType string   `json:"errorType"`
	Warnings  []string `json:"warnings"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// remote asks peer p for the raw samples of ms in [mint, maxt].
func (q *Queryable) remote(ctx context.Context, p Peer, ms []*labels.Matcher, mint, maxt int64) regionSeries {
	start := time.Now()
	rs := q.fetch(ctx, p, ms, mint, maxt)
	outcome := "ok"
	switch {
	case rs.err == nil:
	case errors.Is(rs.err, errTimeout), errors.Is(rs.err, context.DeadlineExceeded):
		outcome = "timeout"
	default:
		outcome = "error"
	}
	q.m.requests.WithLabelValues(outcome).Inc()
	q.m.seconds.WithLabelValues(p.Name).Observe(time.Since(start).Seconds())
	return rs
}

func (q *Queryable) fetch(ctx context.Context, p Peer, ms []*labels.Matcher, mint, maxt int64) regionSeries {
	if err := q.acquire(ctx); err != nil {
		return regionSeries{err: err}
	}
	defer func() { <-q.slots }()
	rng := max(maxt-mint+1, 1)
	v := url.Values{}
	v.Set("query", fmt.Sprintf("%s[%dms]", selector(ms), rng))
	v.Set("time", strconv.FormatFloat(float64(maxt)/1000, 'f', 3, 64))
	rctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, p.URL+"/api/v1/query", nil)
	if err != nil {
		return regionSeries{err: err}
	}
	req.URL.RawQuery = v.Encode()
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	resp, err := q.client.Do(req)
	if err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			return regionSeries{err: fmt.Errorf("%w (regions.timeout %v)", errTimeout, q.cfg.Timeout)}
		}
		return regionSeries{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, q.cfg.MaxBytes+1))
	if err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			return regionSeries{err: fmt.Errorf("%w (regions.timeout %v)", errTimeout, q.cfg.Timeout)}
		}
		return regionSeries{err: err}
	}
	if int64(len(body)) > q.cfg.MaxBytes {
		return regionSeries{err: fmt.Errorf("answer larger than regions.max_bytes %d", q.cfg.MaxBytes)}
	}
	var ar apiResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		return regionSeries{err: fmt.Errorf("HTTP %d, undecodable answer: %w", resp.StatusCode, err)}
	}
	if ar.Status != "success" {
		return regionSeries{err: fmt.Errorf("HTTP %d: %s: %s", resp.StatusCode, ar.ErrorType, ar.Error)}
	}
	if ar.Data.ResultType != "matrix" {
		return regionSeries{err: fmt.Errorf("answer of type %q, want matrix", ar.Data.ResultType)}
	}
	if len(ar.Data.Result) > q.cfg.MaxSeries {
		return regionSeries{err: fmt.Errorf("%d series, more than regions.max_series %d", len(ar.Data.Result), q.cfg.MaxSeries)}
	}
	var out regionSeries
	for _, w := range ar.Warnings {
		out.warns.Add(fmt.Errorf("region %q: %s", p.Name, w))
	}
	for _, r := range ar.Data.Result {
		b := labels.NewBuilder(labels.EmptyLabels())
		for k, v := range r.Metric {
			b.Set(k, v)
		}
		samples := make([]chunks.Sample, 0, len(r.Values))
		for _, pt := range r.Values {
			ts, ok := pt[0].(float64)
			vs, ok2 := pt[1].(string)
			if !ok || !ok2 {
				return regionSeries{err: errors.New("malformed sample in answer")}
			}
			f, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				return regionSeries{err: fmt.Errorf("malformed sample value %q: %w", vs, err)}
			}
			samples = append(samples, query.FloatSample(int64(math.Round(ts*1000)), f))
		}
		out.series = append(out.series, storage.NewListSeries(b.Labels(), samples))
	}
	return out
}
