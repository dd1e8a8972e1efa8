package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/aggregator/query"
	"github.com/edgepulse/edgepulse/codec"
)

// errTruncated: the agent capped its answer (its history.max_points).
var errTruncated = errors.New("truncated")

// detailTimeout bounds one request to an agent through its site's leaf.
const detailTimeout = 5 * time.Second

// detailClient fetches raw samples from agents for the query API.
type detailClient struct{ nc *nats.Conn }

// detail asks the agent of site/host for one series' raw samples over NATS
// request-reply; the request crosses the site's leaf link only now, when
// someone asks.
func (d detailClient) detail(ctx context.Context, site, host, name string, labels map[string]string, start, end int64) ([]query.Sample, error) {
	req, err := json.Marshal(codec.HistoryRequest{Name: name, Matchers: labels, Start: start, End: end, Limit: 100_000})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, detailTimeout)
	defer cancel()
	subject := codec.AgentSubject(site, host, "history")
	msg, err := d.nc.RequestWithContext(ctx, subject, req)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", subject, err)
	}
	if e := msg.Header.Get("Nats-Service-Error"); e != "" {
		return nil, fmt.Errorf("%s: agent says %s (%s)", subject, e, msg.Header.Get("Nats-Service-Error-Code"))
	}
	var resp codec.HistoryResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("%s: reply: %w", subject, err)
	}
	var out []query.Sample
	for _, s := range resp.Series {
		if !sameLabels(s.Labels, labels) {
			continue
		}
		for _, p := range s.Points {
			out = append(out, query.Sample{T: p.TS, V: p.Value})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: agent has no raw samples of %s%v in that range", subject, name, labels)
	}
	if resp.Truncated {
		return out, fmt.Errorf("%w: %s: the agent sent its first %d samples only", errTruncated, subject, len(out))
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
