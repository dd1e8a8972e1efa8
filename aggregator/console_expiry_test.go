package aggregator

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// TestConsoleCapExpiryPushed: a frame whose incident takes the open
// incidents past redis.incident_open_max closes the oldest as expired in
// the same write; the console's fleet page is pushed that close (ingest
// calls Console.Expired beside the alerts' republish), besides the
// frame's window and its incident's open.
func TestConsoleCapExpiryPushed(t *testing.T) {
	a, _, ctx := startAggregatorWith(t, func(c *Config) { c.Redis.IncidentOpenMax = 100 })
	full := make([]store.Incident, 100) // at the cap; the oldest is incident 1
	for i := range full {
		full[i] = store.Incident{Site: "s9", Host: "h9", Agent: "s9/h9", State: "open", Incident: uint64(i + 1), Series: "cpu_busy_percent",
			Time: testBase - time.Hour.Milliseconds() + int64(i)*1000, Score: 0.9, Value: 99, Reason: "ewma"} // older than the frame's
	}
	w := a.Store().NewWrite()
	if err := w.AddIncidents(ctx, full); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	ws := fleetPageWS(ctx, t, a)

	_, js := connect(t, a)
	b := testBatchOf(1)
	b.Events = []codec.Event{{Kind: codec.Open, Incident: uint64(testBase + 120_000), Series: "cpu_busy_percent", TS: testBase + 120_001,
		Score: 0.97, Value: 99, Reason: "ewma"}}
	if _, err := js.Publish(ctx, "tele.s1.h1", keyframe(b), jetstream.WithMsgID("cap1")); err != nil {
		t.Fatal(err)
	}
	var window, opened, expired bool
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for !window || !opened || !expired {
		_, data, err := ws.Read(rctx)
		if err != nil {
			t.Fatalf("window %v, open %v, expired close %v pushed: %v", window, opened, expired, err)
		}
		var m struct {
			Type     string
			Host     string
			Incident *store.Incident
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		switch {
		case m.Type == "window" && m.Host == "h9":
			t.Fatalf("a window of the expired incident's host was pushed: %s", data)
		case m.Type == "window" && m.Host == "h1":
			window = true
		case m.Type == "incident" && m.Incident.Host == "h1":
			if m.Incident.State != "open" {
				t.Fatalf("pushed %s: the frame's incident closed, want the oldest (incident 1 on h9)", data)
			}
			opened = true
		case m.Type == "incident" && m.Incident.Host == "h9":
			if m.Incident.Incident != 1 || m.Incident.State != "closed" || m.Incident.Expired != "cap" {
				t.Fatalf("pushed %s, want incident 1's close as expired by the cap", data)
			}
			expired = true
		}
	}
}
