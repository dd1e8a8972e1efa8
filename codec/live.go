package codec

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Live mode (docs/console.md): a watcher (the console of an aggregator)
// asks an agent on AgentSubject(site, host, EndpointLive) to stream some
// series' raw 1 s samples on LiveSubject(site, host) for a lease; it
// renews the lease while a browser watches and the agent stops when every
// lease has lapsed. Nothing crosses the leaf link for it otherwise.
const (
	EndpointLive = "live"
	// LiveDataEndpoint is not a request endpoint: the agent publishes its
	// LiveFrames there.
	LiveDataEndpoint = "live.data"
)

// Live bounds, enforced by the agent.
const (
	MaxLiveWatchers  = 16               // watchers (leases) one agent serves at once
	MaxLiveSelectors = 16               // selectors in one request
	MaxLivePoints    = 256              // values in one LiveFrame; more matching series are not sent
	MaxLiveLease     = 60 * time.Second // a longer lease is cut to it
)

// LiveSubject is where the agent of site/host publishes its LiveFrames.
func LiveSubject(site, host string) string { return AgentSubject(site, host, LiveDataEndpoint) }

// LiveSelector picks the series named Name whose labels include every
// Matchers pair.
type LiveSelector struct {
	Name     string            `json:"name"`
	Matchers map[string]string `json:"matchers,omitempty"`
}

// LiveRequest starts, renews (same Watcher) or, with LeaseMS 0, ends one
// watcher's stream of the selected series.
type LiveRequest struct {
	Watcher string         `json:"watcher"`
	Series  []LiveSelector `json:"series"`
	LeaseMS int64          `json:"lease_ms"`
}

// Validate names what is wrong with the request.
func (r *LiveRequest) Validate() error {
	switch {
	case r.Watcher == "" || len(r.Watcher) > 128:
		return fmt.Errorf("live: watcher must be 1 to 128 bytes, got %d", len(r.Watcher))
	case r.LeaseMS < 0:
		return fmt.Errorf("live: lease_ms %d must be ≥ 0 (0 ends the stream)", r.LeaseMS)
	case r.LeaseMS > 0 && len(r.Series) == 0:
		return fmt.Errorf("live: series is empty; name at least one series to stream")
	case len(r.Series) > MaxLiveSelectors:
		return fmt.Errorf("live: %d series selectors exceed %d", len(r.Series), MaxLiveSelectors)
	}
	for i, s := range r.Series {
		if s.Name == "" {
			return fmt.Errorf("live: series[%d].name is empty", i)
		}
	}
	return nil
}

// LiveResponse answers a LiveRequest.
type LiveResponse struct {
	Subject  string `json:"subject"`  // where the frames are published
	LeaseMS  int64  `json:"lease_ms"` // the lease granted (0: ended)
	Watchers int    `json:"watchers"` // watchers with a lease now
}

// LiveFrame is one collection's samples of the watched series. TS is the
// samples' timestamp (the aligned instant), Taken the agent's wall clock
// when it read them (Unix ms). Values[i] is the sample of the series whose
// text form name{k="v",…} is Keys[i] of the last frame that carried Keys:
// the agent sends Keys when the set changes (a watcher joined or changed
// its selection) and on every LiveKeyEvery-th frame, so the names do not
// cost the uplink every second.
type LiveFrame struct {
	TS     int64       `json:"t"`
	Taken  int64       `json:"taken"`
	Keys   []string    `json:"k,omitempty"`
	Values []LiveValue `json:"v"`
}

// LiveKeyEvery: a live frame repeats its keys at least this often.
const LiveKeyEvery = 30

// LiveValue is a sample value; NaN and infinities travel as the strings
// "NaN", "+Inf", "-Inf".
type LiveValue float64

// MarshalJSON writes the number or its string form.
func (v LiveValue) MarshalJSON() ([]byte, error) {
	f := float64(v)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// UnmarshalJSON reads a number or "NaN", "+Inf", "-Inf".
func (v *LiveValue) UnmarshalJSON(b []byte) error {
	var p Point
	if err := p.UnmarshalJSON(append(append([]byte("[0,"), b...), ']')); err != nil {
		return fmt.Errorf("codec: live value %.40s: %w", b, err)
	}
	*v = LiveValue(p.Value)
	return nil
}

// LivePoint is one series' sample as the console sends it to a browser:
// the JSON pair [series, value], the series in its text form
// name{k="v",…}, the value as a LiveValue.
type LivePoint struct {
	Series string
	Value  float64
}

// MarshalJSON writes [series, value].
func (p LivePoint) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(p.Series)+32)
	b = append(b, '[')
	b = strconv.AppendQuote(b, p.Series)
	b = append(b, ',')
	b = appendJSONValue(b, p.Value)
	return append(b, ']'), nil
}

// UnmarshalJSON reads [series, value].
func (p *LivePoint) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("codec: live point %.80s: want [series, value]", b)
	}
	if err := json.Unmarshal(pair[0], &p.Series); err != nil {
		return fmt.Errorf("codec: live point %.80s: series: %w", b, err)
	}
	var pt Point
	if err := pt.UnmarshalJSON(append(append([]byte("[0,"), pair[1]...), ']')); err != nil {
		return fmt.Errorf("codec: live point %.80s: value: %w", b, err)
	}
	p.Value = pt.Value
	return nil
}
