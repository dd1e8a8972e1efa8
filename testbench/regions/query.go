package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// promResponse is the Prometheus HTTP API envelope of an instant query.
type promResponse struct {
	Status   string   `json:"status"`
	Error    string   `json:"error"`
	Warnings []string `json:"warnings"`
	Data     struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

var httpc = &http.Client{Timeout: 60 * time.Second}

// instant runs query at t (zero: now) against base (an API root, with
// /global for the fan-out) and returns the answer and how long it took.
func instant(base, query string, t time.Time) (promResponse, time.Duration, error) {
	v := url.Values{"query": {query}}
	if !t.IsZero() {
		v.Set("time", strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64))
	}
	start := time.Now()
	resp, err := httpc.Get(base + "/api/v1/query?" + v.Encode())
	if err != nil {
		return promResponse{}, 0, err
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		return pr, 0, fmt.Errorf("%s: %w", query, err)
	}
	took := time.Since(start)
	if pr.Status != "success" {
		return pr, took, fmt.Errorf("%s: %s", query, pr.Error)
	}
	return pr, took, nil
}

// bySite maps the label lbl of each result series to its value.
func byLabel(pr promResponse, lbl string) map[string]float64 {
	out := map[string]float64{}
	for _, r := range pr.Data.Result {
		s, _ := r.Value[1].(string)
		f, _ := strconv.ParseFloat(s, 64)
		out[r.Metric[lbl]] = f
	}
	return out
}
