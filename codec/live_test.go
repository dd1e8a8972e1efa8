package codec

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestLiveFrameRoundTrip(t *testing.T) {
	in := LiveFrame{TS: 1000, Taken: 1123, Keys: []string{`node_load1{job="node"}`, "x", "y", "z"},
		Values: []LiveValue{1.25, LiveValue(math.NaN()), LiveValue(math.Inf(1)), LiveValue(math.Inf(-1))}}
	b, err := json.Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"t":1000,"taken":1123,"k":["node_load1{job=\"node\"}","x","y","z"],"v":[1.25,"NaN","+Inf","-Inf"]}`; string(b) != want {
		t.Fatalf("encoded %s\nwant    %s", b, want)
	}
	var out LiveFrame
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Values[0] != 1.25 || !math.IsNaN(float64(out.Values[1])) || !math.IsInf(float64(out.Values[2]), 1) || !math.IsInf(float64(out.Values[3]), -1) {
		t.Fatalf("decoded %+v", out)
	}
	if err := json.Unmarshal([]byte(`{"t":1,"v":["many"]}`), &out); err == nil || !strings.Contains(err.Error(), "many") {
		t.Fatalf("a bad value: %v", err)
	}
	p, _ := json.Marshal(LivePoint{Series: "a", Value: 2})
	if string(p) != `["a",2]` {
		t.Fatalf("live point %s", p)
	}
}

func TestLiveRequestValidate(t *testing.T) {
	ok := LiveRequest{Watcher: "w", Series: []LiveSelector{{Name: "node_load1"}}, LeaseMS: 1000}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	stop := LiveRequest{Watcher: "w"}
	if err := stop.Validate(); err != nil {
		t.Fatalf("ending a lease needs no series: %v", err)
	}
	many := make([]LiveSelector, MaxLiveSelectors+1)
	for i := range many {
		many[i].Name = "x"
	}
	for name, r := range map[string]LiveRequest{
		"watcher":  {Series: ok.Series, LeaseMS: 1},
		"lease_ms": {Watcher: "w", Series: ok.Series, LeaseMS: -1},
		"empty":    {Watcher: "w", LeaseMS: 1},
		"exceed":   {Watcher: "w", Series: many, LeaseMS: 1},
		"name":     {Watcher: "w", Series: []LiveSelector{{}}, LeaseMS: 1},
	} {
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
