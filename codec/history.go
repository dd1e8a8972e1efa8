package codec

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Agent service subjects: every agent answers requests on
// ep.agent.<site>.<host>.<endpoint> (NATS request-reply, JSON bodies).
const (
	EndpointStatus  = "status"  // agent counters, uptime, version
	EndpointConfig  = "config"  // the effective configuration, secrets redacted
	EndpointHistory = "history" // raw samples: HistoryRequest → HistoryResponse
	// EndpointKeyframe makes the agent send its next frame as a keyframe,
	// so a reader that joined mid-stream (nats sub --translate) decodes it.
	EndpointKeyframe = "keyframe"
	// EndpointConfigError is not a request endpoint: the agent publishes a
	// ConfigError there when a pushed configuration is rejected.
	EndpointConfigError = "config.error"
)

// AgentSubject is the subject of an agent's endpoint, e.g.
// AgentSubject("site1", "gw-7", EndpointHistory) = "ep.agent.site1.gw-7.history".
func AgentSubject(site, host, endpoint string) string {
	return "ep.agent." + site + "." + host + "." + endpoint
}

// HistoryRequest asks an agent for its raw samples of the series named Name
// whose labels include every Matchers pair, between Start and End (Unix
// milliseconds, both inclusive). Zero End means now; zero Start means one
// hour before End. Limit caps the points in the answer (0: the agent's
// maximum); an answer cut by it says Truncated.
type HistoryRequest struct {
	Name     string            `json:"name"`
	Matchers map[string]string `json:"matchers,omitempty"`
	Start    int64             `json:"start,omitempty"`
	End      int64             `json:"end,omitempty"`
	Limit    int               `json:"limit,omitempty"`
}

// HistoryResponse is an agent's answer to a HistoryRequest: one entry per
// matching series, sorted by labels, each with its points in time order.
type HistoryResponse struct {
	Series    []HistorySeries `json:"series"`
	Truncated bool            `json:"truncated"`
}

// HistorySeries is one series' raw samples.
type HistorySeries struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	Points []Point           `json:"points"`
}

// Point is one raw sample. It travels as the JSON pair [ts_ms, value];
// a value JSON cannot carry as a number travels as "NaN", "+Inf" or "-Inf".
type Point struct {
	TS    int64
	Value float64
}

// MarshalJSON writes [ts,value].
func (p Point) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = append(b, '[')
	b = strconv.AppendInt(b, p.TS, 10)
	b = append(b, ',')
	switch {
	case math.IsNaN(p.Value):
		b = append(b, `"NaN"`...)
	case math.IsInf(p.Value, 1):
		b = append(b, `"+Inf"`...)
	case math.IsInf(p.Value, -1):
		b = append(b, `"-Inf"`...)
	default:
		b = strconv.AppendFloat(b, p.Value, 'g', -1, 64)
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads [ts,value], the value a number or one of "NaN",
// "+Inf", "-Inf".
func (p *Point) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("codec: point %s: %w", b, err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("codec: point %s: want [ts_ms, value]", b)
	}
	if err := json.Unmarshal(pair[0], &p.TS); err != nil {
		return fmt.Errorf("codec: point %s: timestamp: %w", b, err)
	}
	if err := json.Unmarshal(pair[1], &p.Value); err == nil {
		return nil
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return fmt.Errorf("codec: point %s: value: %w", b, err)
	}
	switch s {
	case "NaN":
		p.Value = math.NaN()
	case "+Inf", "Inf":
		p.Value = math.Inf(1)
	case "-Inf":
		p.Value = math.Inf(-1)
	default:
		return fmt.Errorf("codec: point %s: value %q is not a number", b, s)
	}
	return nil
}

// ConfigError is what an agent publishes on its config.error subject when
// a pushed configuration override is rejected; it keeps running on the
// last good one.
type ConfigError struct {
	Agent    string `json:"agent"`    // site/host
	Key      string `json:"key"`      // the bucket key whose change was rejected
	Revision uint64 `json:"revision"` // its revision in the bucket
	Error    string `json:"error"`
	TS       int64  `json:"ts"` // Unix ms
}

// Configuration push (docs/config-push.md). The hub's KV bucket republishes
// every change, headers only, on ConfigNotifySubject(key); an agent asks
// any aggregator for its layers on ConfigGetSubject(site, host) and gets
// ConfigLayers back. Both are plain subjects: a site leaf without its own
// JetStream denies $JS.API.> and $KV.> across the leaf link.
const (
	ConfigNotifyPrefix = "ep.config.kv."
	ConfigGetPrefix    = "ep.config.get."
)

// ConfigNotifySubject is where a change of the bucket key is announced.
func ConfigNotifySubject(key string) string { return ConfigNotifyPrefix + key }

// ConfigGetSubject is where an agent requests its configuration layers.
func ConfigGetSubject(site, host string) string { return ConfigGetPrefix + site + "." + host }

// ConfigKeys are the bucket keys that concern one agent, lowest layer first.
func ConfigKeys(site, host string) []string {
	return []string{"_all", site + "._site", site + "." + host}
}

// ConfigLayer is one bucket key's value.
type ConfigLayer struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	Value    string `json:"value"`
}

// ConfigLayers answers a ConfigGetSubject request: the keys of
// ConfigKeys that exist, in that order. Error is set when the bucket could
// not be read (the agent then keeps its last good configuration).
type ConfigLayers struct {
	Bucket string        `json:"bucket"`
	Layers []ConfigLayer `json:"layers"`
	Error  string        `json:"error,omitempty"`
}
