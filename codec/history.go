package codec

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

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
	b = appendJSONValue(b, p.Value)
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

// appendJSONValue appends v as a JSON number, or as one of the strings
// "NaN", "+Inf", "-Inf" that JSON numbers cannot say (the Prometheus API's
// convention).
func appendJSONValue(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"+Inf"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Inf"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
