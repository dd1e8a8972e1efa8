package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/query"
)

// historyRequest and historyResponse are the agent's history endpoint
// (ep.agent.<site>.<host>.history) in JSON.
type historyRequest struct {
	Name     string            `json:"name"`
	Matchers map[string]string `json:"matchers,omitempty"`
	Start    int64             `json:"start"`
	End      int64             `json:"end"`
	Limit    int               `json:"limit,omitempty"`
}

type historyResponse struct {
	Series []struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
		Points [][2]float64      `json:"points"`
	} `json:"series"`
	Truncated bool `json:"truncated"`
}

// detailTimeout bounds one request to an agent through its site's leaf.
const detailTimeout = 5 * time.Second

// detail asks the agent of site/host for one series' raw samples over NATS
// request-reply; the request crosses the site's leaf link only now, when
// someone asks.
func (a *Aggregator) detail(ctx context.Context, site, host, name string, labels map[string]string, start, end int64) ([]query.Sample, error) {
	req, err := json.Marshal(historyRequest{Name: name, Matchers: labels, Start: start, End: end, Limit: 100_000})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, detailTimeout)
	defer cancel()
	subject := "ep.agent." + site + "." + host + ".history"
	msg, err := a.nc.RequestWithContext(ctx, subject, req)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", subject, err)
	}
	if e := msg.Header.Get("Nats-Service-Error"); e != "" {
		return nil, fmt.Errorf("%s: agent says %s (%s)", subject, e, msg.Header.Get("Nats-Service-Error-Code"))
	}
	var resp historyResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("%s: reply: %w", subject, err)
	}
	var out []query.Sample
	for _, s := range resp.Series {
		if !sameLabels(s.Labels, labels) {
			continue
		}
		for _, p := range s.Points {
			out = append(out, query.Sample{T: int64(p[0]), V: p[1]})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: agent has no raw samples of %s%v in that range", subject, name, labels)
	}
	return out, nil
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
