package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// samples returns the (end, value) points stored for the selector's
// first series over the hour before at.
func samples(ctx context.Context, api, sel string, at time.Time) ([][2]float64, error) {
	q := url.Values{"query": {sel + "[1h]"}, "time": {strconv.FormatInt(at.Unix(), 10)}}
	req, _ := http.NewRequestWithContext(ctx, "GET", api+"/api/v1/query?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct{ Values [][2]any }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if len(r.Data.Result) == 0 {
		return nil, fmt.Errorf("no series for %s", sel)
	}
	var out [][2]float64
	for _, v := range r.Data.Result[0].Values {
		t, ok := v[0].(float64)
		s, _ := v[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		if ok && err == nil {
			out = append(out, [2]float64{t, f})
		}
	}
	slices.SortFunc(out, func(a, b [2]float64) int {
		switch {
		case a[0] < b[0]:
			return -1
		case a[0] > b[0]:
			return 1
		}
		return 0
	})
	return out, nil
}

// labelValues is how many values /api/v1/label/<name>/values returns.
func labelValues(ctx context.Context, api, name string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", api+"/api/v1/label/"+name+"/values", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct{ Data []string }
	err = json.NewDecoder(resp.Body).Decode(&r)
	return len(r.Data), err
}

// seriesCount is how many series an instant query returns.
func seriesCount(ctx context.Context, api, q string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", api+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Data struct{ Result []json.RawMessage }
	}
	err = json.NewDecoder(resp.Body).Decode(&r)
	return len(r.Data.Result), err
}
