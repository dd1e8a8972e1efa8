package aggregator

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// expiryMember is the member of TestConsoleClusterPush whose store
// expiry closes the old incident: only it has a max age short enough
// (expiryOnOneMember), so the close must travel to the other member's
// browser as a notice.
const expiryMember = "agg-0"

// expiryOnOneMember tunes the cluster of TestConsoleClusterPush: open
// incidents expire after 24 h on expiryMember, after the default 7 days
// on the others.
func expiryOnOneMember(c *Config) {
	if c.Name == expiryMember {
		c.Redis.IncidentOpenMaxAge = 24 * time.Hour
	}
}

// checkExpiryPushedAcross is TestConsoleClusterPush's last part: an
// incident open for 25 h, expired by expiryMember's sweep, reaches the
// fleet page (fleet and incidents, as app.js subscribes) connected to
// the member at as its close, once, with no window of its host.
func checkExpiryPushedAcross(ctx context.Context, t *testing.T, aggs map[string]*Aggregator, at string) {
	t.Helper()
	ws := fleetPageWS(ctx, t, aggs[at])
	defer ws.CloseNow()

	now := time.Now()
	old := store.Incident{Site: "sx", Host: "hx", Agent: "sx/hx", State: "open", Incident: 4242, Series: "cpu_busy_percent",
		Time: now.Add(-25 * time.Hour).UnixMilli(), Score: 0.9, Value: 99, Reason: "ewma"}
	w := aggs[expiryMember].Store().NewWrite()
	if err := w.AddIncidents(ctx, []store.Incident{old}); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// This run or the member's own capacity loop expires it, once; the
	// others keep it (7 days).
	aggs[expiryMember].health.sweepIncidents(ctx)

	closes := 0
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		wait := time.Until(deadline)
		if closes > 0 {
			wait = min(wait, time.Second) // a second close would be a duplicate
		}
		rctx, rcancel := context.WithTimeout(ctx, wait)
		_, data, err := ws.Read(rctx)
		rcancel()
		if err != nil {
			break
		}
		var m struct {
			Type     string
			Host     string
			Applied  int64
			Incident *store.Incident
		}
		if json.Unmarshal(data, &m) != nil {
			t.Fatalf("undecodable push %s", data)
		}
		switch {
		case m.Type == "window" && m.Host == "hx":
			t.Fatalf("a window of the expired incident's host was pushed: %s", data)
		case m.Type == "incident" && m.Incident != nil && m.Incident.Incident == 4242:
			if m.Incident.State != "closed" || m.Incident.Expired != "age" || m.Incident.Host != "hx" || m.Applied != m.Incident.Time {
				t.Fatalf("pushed %s, want incident 4242's close as expired by age, applied at its time", data)
			}
			closes++
		}
	}
	if closes != 1 {
		t.Fatalf("the browser on %s was pushed %d closes of the incident %s expired, want 1", at, closes, expiryMember)
	}
}

// fleetPageWS is a WebSocket to a's console (no token) subscribed as the
// fleet page (fleet and incidents), once its subscription applies.
func fleetPageWS(ctx context.Context, t *testing.T, a *Aggregator) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws://"+a.HTTPAddr()+"/ui/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"auth","token":""}`))
	if _, _, err := ws.Read(ctx); err != nil { // hello
		t.Fatal(err)
	}
	ws.Write(ctx, websocket.MessageText, []byte(`{"type":"sub","fleet":true,"incidents":true}`))
	// The subscription is applied by the reader: a probe window pushed
	// after it is read marks the start.
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			a.console.Applied(&codec.Batch{Site: "probe", Host: "probe2", Width: 60_000}, nil, time.Now())
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m struct{ Type, Host string }
		if json.Unmarshal(data, &m) == nil && m.Type == "window" && m.Host == "probe2" {
			return ws
		}
	}
}
