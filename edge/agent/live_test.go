package agent

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// TestLiveMode: nothing is published until a watcher asks; then every
// collection's samples of the selected series come as one frame a second;
// a lease of 0 stops them, so does a lapsed lease; bad requests and
// watchers over the bound are refused with a code.
func TestLiveMode(t *testing.T) {
	ns := startServer(t, -1, t.TempDir())
	defer ns.Shutdown()
	a := runAgent(t, fixtureConfig(t, ns.ClientURL()))
	nc := connect(t, ns)
	var frames, keyed atomic.Int64
	var lastFrame atomic.Pointer[codec.LiveFrame]
	var lastAt atomic.Int64
	var keys []string // the subscription's goroutine only
	sub, err := nc.Subscribe(codec.LiveSubject("s1", "h1"), func(m *nats.Msg) {
		var f codec.LiveFrame
		if err := json.Unmarshal(m.Data, &f); err != nil {
			t.Errorf("live frame %s: %v", m.Data, err)
			return
		}
		if f.Keys != nil {
			keys = f.Keys
			keyed.Add(1)
		}
		if len(f.Values) != len(keys) {
			t.Errorf("frame of %d values after %d keys: %s", len(f.Values), len(keys), m.Data)
			return
		}
		f.Keys = keys
		lastFrame.Store(&f)
		lastAt.Store(time.Now().UnixNano())
		frames.Add(1)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	req := func(body string) (*nats.Msg, codec.LiveResponse) {
		t.Helper()
		m, err := nc.Request(codec.AgentSubject("s1", "h1", codec.EndpointLive), []byte(body), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var r codec.LiveResponse
		json.Unmarshal(m.Data, &r)
		return m, r
	}
	waitUntil(t, "3 cycles", 20*time.Second, func() error {
		if c := a.Stats().Cycles; c < 3 {
			return fmt.Errorf("%d cycles", c)
		}
		return nil
	})
	if n := frames.Load(); n != 0 {
		t.Fatalf("%d live frames before anyone asked", n)
	}

	for body, code := range map[string]string{
		`{"watcher":"w","series":[],"lease_ms":5000}`:                  "400",
		`{"watcher":"","series":[{"name":"node_load1"}],"lease_ms":1}`: "400",
		`{"watcher":"w","series":[{"name":"node_load1"}],"lease":1}`:   "400",
		`not json`: "400",
	} {
		m, _ := req(body)
		if got := m.Header.Get("Nats-Service-Error-Code"); got != code {
			t.Errorf("request %s: code %q, want %s (%s)", body, got, code, m.Header.Get("Nats-Service-Error"))
		}
	}

	_, r := req(`{"watcher":"w1","series":[{"name":"node_load1"},{"name":"node_cpu_seconds_total","matchers":{"mode":"idle"}}],"lease_ms":30000}`)
	if r.Subject != codec.LiveSubject("s1", "h1") || r.LeaseMS != 30000 || r.Watchers != 1 {
		t.Fatalf("live response %+v", r)
	}
	waitUntil(t, "3 live frames", 20*time.Second, func() error {
		if n := frames.Load(); n < 3 {
			return fmt.Errorf("%d frames", n)
		}
		return nil
	})
	f := lastFrame.Load()
	var load, idle int
	for i, k := range f.Keys {
		switch {
		case k == `node_load1{job="node"}` || k == "node_load1":
			load++
			if f.Values[i] != 1.25 { // the fixture's loadavg
				t.Errorf("node_load1 = %v, want 1.25", f.Values[i])
			}
		case strings.HasPrefix(k, "node_cpu_seconds_total{") && strings.Contains(k, `mode="idle"`):
			idle++
		default:
			t.Errorf("unselected series %s in the frame", k)
		}
	}
	if load != 1 || idle == 0 {
		t.Fatalf("frame has %d node_load1 and %d idle cpu points: %+v", load, idle, f)
	}
	if n := keyed.Load(); n != 1 {
		t.Errorf("%d of %d frames carried the series names, want only the first", n, frames.Load())
	}
	if f.Taken < f.TS || f.Taken-f.TS > 1000 {
		t.Errorf("taken %d not within a second after the sample time %d", f.Taken, f.TS)
	}

	// Watchers over the bound are refused; existing ones may renew.
	for i := 2; i <= codec.MaxLiveWatchers; i++ {
		req(fmt.Sprintf(`{"watcher":"w%d","series":[{"name":"node_load1"}],"lease_ms":1000}`, i))
	}
	if m, _ := req(`{"watcher":"one-too-many","series":[{"name":"node_load1"}],"lease_ms":1000}`); m.Header.Get("Nats-Service-Error-Code") != "429" {
		t.Errorf("watcher %d: %q, want 429", codec.MaxLiveWatchers+1, m.Header.Get("Nats-Service-Error-Code"))
	}
	// w1 ends its lease at once; the others lapse after 1 s: the stream stops.
	if _, r := req(`{"watcher":"w1","lease_ms":0}`); r.LeaseMS != 0 {
		t.Errorf("ending: %+v", r)
	}
	waitUntil(t, "the stream to stop", 15*time.Second, func() error {
		if since := time.Since(time.Unix(0, lastAt.Load())); since < 3*time.Second {
			return fmt.Errorf("last frame %v ago", since)
		}
		return nil
	})
	var metrics strings.Builder
	a.serveLiveMetrics(func(name, typ, help string, v float64) { fmt.Fprintf(&metrics, "%s %g\n", name, v) })
	if !strings.Contains(metrics.String(), "edgepulse_agent_live_watchers 0\n") || strings.Contains(metrics.String(), "edgepulse_agent_live_frames_total 0\n") {
		t.Errorf("live metrics:\n%s", metrics.String())
	}
}
