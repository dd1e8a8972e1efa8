package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

const tok = "console-unit-token-0123"

func serve(t testing.TB, l Limits) (*Console, string) {
	t.Helper()
	c := New(Options{Token: tok, Limits: l})
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func dial(t testing.TB, ctx context.Context, url, token string) (*websocket.Conn, error) {
	t.Helper()
	ws, resp, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/ui/ws", nil)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			return nil, errTooMany
		}
		return nil, err
	}
	t.Cleanup(func() { ws.CloseNow() })
	doc, _ := json.Marshal(map[string]string{"type": "auth", "token": token})
	if err := ws.Write(ctx, websocket.MessageText, doc); err != nil {
		return nil, err
	}
	return ws, nil
}

var errTooMany = &json.UnsupportedValueError{Str: "429"}

func read(t *testing.T, ctx context.Context, ws *websocket.Conn) map[string]any {
	t.Helper()
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("message %s: %v", data, err)
	}
	return m
}

func metricsText(t *testing.T, c *Console) string {
	t.Helper()
	var b strings.Builder
	if err := c.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestAuthAndLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, url := serve(t, Limits{MaxConnsPerClient: 2})

	bad, err := dial(t, ctx, url, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.Read(ctx); websocket.CloseStatus(err) != closeUnauthorized {
		t.Fatalf("wrong token: %v, want close %d", err, closeUnauthorized)
	}

	// The server forgets the refused connection once its handler returns.
	waitFor(t, "the refused connection to be forgotten", func() bool { return c.hub.nClients.Load() == 0 })
	var good []*websocket.Conn
	for range 2 {
		ws, err := dial(t, ctx, url, tok)
		if err != nil {
			t.Fatal(err)
		}
		if m := read(t, ctx, ws); m["type"] != "hello" {
			t.Fatalf("first message %v, want hello", m)
		}
		good = append(good, ws)
	}
	if _, err := dial(t, ctx, url, tok); err != errTooMany {
		t.Fatalf("third connection from one client: %v, want 429", err)
	}
	m := metricsText(t, c)
	for _, want := range []string{"edgepulse_console_ws_connections 2", `edgepulse_console_ws_refused_total{reason="client_limit"} 1`,
		`edgepulse_console_ws_refused_total{reason="unauthorized"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}

	// A message the console does not understand closes the connection.
	good[0].Write(ctx, websocket.MessageText, []byte(`{"type":"nope"}`))
	if _, _, err := good[0].Read(ctx); websocket.CloseStatus(err) != closeBadMessage {
		t.Fatalf("unknown message: %v, want close %d", err, closeBadMessage)
	}

	// The page is served to anyone; / redirects to it.
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" {
		t.Fatalf("GET / ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
}

func testBatch(site, host string, start int64) *codec.Batch {
	return &codec.Batch{Site: site, Host: host, Start: start, Width: 10_000,
		Series: []codec.Series{{ID: 1, Name: "node_load1", Labels: []string{"job", "node"}}, {ID: 2, Name: "node_procs_running"}},
		Rollups: []codec.Rollup{{ID: 1, Count: 10, Sum: 5, Min: 0.25, Max: 1, Last: 0.5, Quantiles: []float64{0.5, 0.9, 0.99}},
			{ID: 2, Count: 10, Sum: 20, Min: 1, Max: 3, Last: 2}}}
}

func TestPushWindowsAndIncidents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, url := serve(t, Limits{})
	host, _ := dial(t, ctx, url, tok)
	fleet, _ := dial(t, ctx, url, tok)
	read(t, ctx, host)
	read(t, ctx, fleet)
	host.Write(ctx, websocket.MessageText, []byte(`{"type":"sub","hosts":[{"site":"s1","host":"h1","names":["node_load1"]}]}`))
	fleet.Write(ctx, websocket.MessageText, []byte(`{"type":"sub","fleet":true,"incidents":true}`))
	// The subscriptions are applied by the reader goroutines: wait.
	waitFor(t, "both subscriptions", func() bool {
		c.hub.mu.RLock()
		defer c.hub.mu.RUnlock()
		n := 0
		for _, cl := range c.hub.clients {
			if cl.fleet || len(cl.hosts) > 0 {
				n++
			}
		}
		return n == 2
	})
	at := time.Now()
	c.Applied(testBatch("s2", "other", 0), nil, at) // only the fleet page
	inc := store.Incident{Site: "s1", Host: "h1", State: "open", Incident: 7, Series: "node_load1", Time: at.UnixMilli()}
	c.Applied(testBatch("s1", "h1", 10_000), []store.Incident{inc}, at)

	m := read(t, ctx, host)
	series, _ := m["series"].([]any)
	if m["type"] != "window" || m["host"] != "h1" || m["applied"] != float64(at.UnixMilli()) || len(series) != 1 {
		t.Fatalf("host page got %v", m)
	}
	s := series[0].(map[string]any)
	if s["name"] != "node_load1" || s["avg"] != 0.5 || s["min"] != 0.25 || s["max"] != 1.0 || s["p99"] != 0.99 {
		t.Fatalf("window values %v", s)
	}
	if m := read(t, ctx, host); m["type"] != "incident" {
		t.Fatalf("host page: %v, want its host's incident", m)
	}
	for _, want := range []string{"other", "h1"} {
		m := read(t, ctx, fleet)
		if m["type"] != "window" || m["host"] != want || m["series"] != nil {
			t.Fatalf("fleet page got %v, want the window of %s without values", m, want)
		}
	}
	if m := read(t, ctx, fleet); m["type"] != "incident" || m["incident"].(map[string]any)["incident"] != 7.0 {
		t.Fatalf("fleet page: %v", m)
	}
}

// A client that does not read loses its oldest messages, counted, and the
// pushing side never waits for it.
func TestSlowClientDropsOldest(t *testing.T) {
	met := newMetrics()
	h := newHub(met)
	cl, _ := h.add("10.0.0.1", Limits{MaxConns: 4, MaxConnsPerClient: 4, Outbox: 4})
	h.mu.Lock()
	cl.fleet = true
	h.mu.Unlock()
	for i := range 10 {
		h.applied(testBatch("s", "h", int64(i)*10_000), nil, time.Now())
	}
	msgs := cl.out.take(nil)
	if len(msgs) != 4 {
		t.Fatalf("%d messages kept, want the outbox's 4", len(msgs))
	}
	for i, m := range msgs {
		var w windowMsg
		json.Unmarshal(m, &w)
		if w.Start != int64(6+i)*10_000 {
			t.Errorf("kept message %d is window %d, want %d (the newest)", i, w.Start, (6+i)*10_000)
		}
	}
	var b strings.Builder
	(&Console{met: met}).WriteMetrics(&b)
	if !strings.Contains(b.String(), "edgepulse_console_ws_dropped_total 6") {
		t.Errorf("metrics:\n%s", b.String())
	}
}

func TestLimitsValidate(t *testing.T) {
	for _, l := range []Limits{{MaxConns: -1}, {MaxConnsPerClient: 20000}, {Outbox: -5}, {MaxLiveHosts: 1e6}} {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v: no error", l)
		}
	}
	if err := (Limits{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
