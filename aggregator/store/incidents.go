package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/edgepulse/edgepulse/codec"
)

// incidentLog reads the incidents: the open ones and the event log
// ({inc}open, {inc}log); Write.AddIncidents writes them and
// ExpireOpenIncidents bounds the open ones.
type incidentLog struct{ *conn }

// Incident is an edge incident transition as the aggregator publishes it on
// alerts.<site>.<host> and keeps it in Redis.
type Incident struct {
	Site     string            `json:"site"`
	Host     string            `json:"host"`
	Agent    string            `json:"agent"`
	State    string            `json:"state"` // "open" or "closed"
	Incident uint64            `json:"incident"`
	Series   string            `json:"series"`
	Labels   map[string]string `json:"labels,omitempty"`
	Time     int64             `json:"time_ms"`
	Score    float64           `json:"score"`
	Value    float64           `json:"value"`
	Reason   string            `json:"reason,omitempty"`
	// Expired is set on the close event the store writes for an incident
	// it closed without the agent's close (incidentexpiry.go): "age" (no
	// event for redis.incident_open_max_age) or "cap" (more than
	// redis.incident_open_max open); Reason says it in words.
	Expired string `json:"expired,omitempty"`
	// Context holds the raw 1 s samples around the opening:
	// Context[i] was observed at ContextStart + i*ContextStepMs.
	ContextStart  int64     `json:"context_start_ms,omitempty"`
	ContextStepMs int64     `json:"context_step_ms,omitempty"`
	Context       []float64 `json:"context,omitempty"`
}

// Key identifies the incident across its open and close events.
func (i *Incident) Key() string {
	k := i.Site + "/" + i.Host + "/" + strconv.FormatUint(i.Incident, 10) + "/" + i.Series
	for _, v := range i.Labels {
		k += "/" + v
	}
	return k
}

// IncidentOf converts a batch's event.
func IncidentOf(b *codec.Batch, e *codec.Event) Incident {
	in := Incident{
		Site: b.Site, Host: b.Host, Agent: b.Agent, State: "open", Incident: e.Incident, Series: e.Series,
		Time: e.TS, Score: e.Score, Value: e.Value, Reason: e.Reason,
		ContextStart: e.Start, ContextStepMs: e.Step, Context: e.Context,
	}
	if e.Kind == codec.Close {
		in.State = "closed"
	}
	if len(e.Labels) > 0 {
		in.Labels = make(map[string]string, len(e.Labels)/2)
		for j := 0; j+1 < len(e.Labels); j += 2 {
			in.Labels[e.Labels[j]] = e.Labels[j+1]
		}
	}
	return in
}

// applyIncident records an open incident unless it has already closed, or
// closes it: applying the same events again, in any order, changes nothing.
//
// Everything it keeps is bounded (incidentlog.go): ARGV[5] is the oldest
// event time (Unix ms) kept. An older event is neither logged nor opened
// (a close still closes); the closed keys (shut, a ZSET by close time)
// older than it go, which is safe because an open is never younger than
// its close; the log loses its events older than it, then its oldest past
// ARGV[6] events. closed is the SET of closed keys before the bound:
// read, never written.
//
// openat scores each open incident by its newest event's time, for the
// expiry of incidents whose close never comes (incidentexpiry.go);
// expired holds the keys the store closed as expired, by expiry time,
// trimmed like shut. An event for an expired incident changes nothing
// open (its key is in shut, so an open is ignored); a close is still
// logged. It returns {log events dropped or removed, 1 if the key was
// expired, open incidents after it}.
var applyIncidentSrc = `
local open, closed, log, shut, openat, expired = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local key, state, doc, ts = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local oldest = tonumber(ARGV[5])
local late = 0
if redis.call('ZSCORE', expired, key) then late = 1 end
if state == 'closed' then
  redis.call('HDEL', open, key)
  redis.call('ZREM', openat, key)
end
if ts < oldest then
  return {1, late, redis.call('HLEN', open)}
end
redis.call('ZADD', log, ts, doc)
if state == 'closed' then
  redis.call('ZADD', shut, 'GT', ts, key)
elseif not redis.call('ZSCORE', shut, key) and redis.call('SISMEMBER', closed, key) == 0 then
  redis.call('HSET', open, key, doc)
  redis.call('ZADD', openat, 'GT', ts, key)
end
` + trimIncidentsLua(6) + `return {trimmed, late, redis.call('HLEN', open)}
`

// incidentTag keeps the incident keys in one Redis Cluster slot: the
// script above touches all six, the expiry (incidentexpiry.go) five.
// trimIncidentsLua is the Lua both incident scripts end with: closed keys
// and expiry marks older than oldest go, the log is cut to entries newer
// than oldest and to at most ARGV[maxArg] entries; it leaves the entries
// removed from the log in the local trimmed.
func trimIncidentsLua(maxArg int) string {
	return fmt.Sprintf(`redis.call('ZREMRANGEBYSCORE', shut, '-inf', '(' .. oldest)
redis.call('ZREMRANGEBYSCORE', expired, '-inf', '(' .. oldest)
local trimmed = redis.call('ZREMRANGEBYSCORE', log, '-inf', '(' .. oldest)
local over = redis.call('ZCARD', log) - tonumber(ARGV[%d])
if over > 0 then
  trimmed = trimmed + redis.call('ZREMRANGEBYRANK', log, 0, over - 1)
end
`, maxArg)
}

const incidentTag = "{inc}"

// OpenIncidents returns the incidents that are open now.
func (s *incidentLog) OpenIncidents(ctx context.Context) ([]Incident, error) {
	m, err := s.rdb.HGetAll(ctx, s.key(incidentTag, "open")).Result()
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	out := make([]Incident, 0, len(m))
	for k, v := range m {
		var in Incident
		if err := json.Unmarshal([]byte(v), &in); err != nil {
			return nil, fmt.Errorf("store: incident %s: %w", k, err)
		}
		out = append(out, in)
	}
	return out, nil
}
