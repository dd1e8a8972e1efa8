package console

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// member is one aggregator's console on its own hub connection.
func member(t testing.TB, url, name string) (*Console, string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c := New(Options{NC: nc, Token: tok, Name: name, Log: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	c.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// subscribed waits until every client of c has a subscription.
// fleetAndHost opens two browsers on member b's console, one on the
// fleet page with incidents, one on host s1/h1's page, and waits until
// b has both subscriptions and a's and b's connections are flushed.
func fleetAndHost(t *testing.T, ctx context.Context, burl string, a, b *Console) (fleet, host *websocket.Conn) {
	t.Helper()
	fleet, err := dial(t, ctx, burl, tok)
	if err != nil {
		t.Fatal(err)
	}
	host, err = dial(t, ctx, burl, tok)
	if err != nil {
		t.Fatal(err)
	}
	read(t, ctx, fleet)
	read(t, ctx, host)
	fleet.Write(ctx, websocket.MessageText, []byte(`{"type":"sub","fleet":true,"incidents":true}`))
	host.Write(ctx, websocket.MessageText, []byte(`{"type":"sub","hosts":[{"site":"s1","host":"h1","names":["node_load1"]}]}`))
	subscribed(t, b, 2)
	b.opts.NC.Flush()
	a.opts.NC.Flush()
	return fleet, host
}

func subscribed(t *testing.T, c *Console, n int) {
	t.Helper()
	waitFor(t, "subscriptions", func() bool {
		c.hub.mu.RLock()
		defer c.hub.mu.RUnlock()
		k := 0
		for _, cl := range c.hub.clients {
			if cl.fleet || len(cl.hosts) > 0 {
				k++
			}
		}
		return k == n
	})
}

// TestNoticesFleetWide: a browser connected to one member of a cluster is
// pushed the windows and incidents another member applies (through the
// notices on NoticeSubject), once, and a member without browsers is sent
// no notices.
func TestNoticesFleetWide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	probe := startNATS(t)
	url := probe.ConnectedUrl()
	a, _ := member(t, url, "a")
	b, burl := member(t, url, "b")
	idle, _ := member(t, url, "idle") // no browser: subscribes to nothing

	fleet, host := fleetAndHost(t, ctx, burl, a, b)

	at := time.Now()
	inc := store.Incident{Site: "s1", Host: "h1", State: "open", Incident: 9, Series: "node_load1", Time: at.UnixMilli(),
		Context: []float64{1, 2, 3}, ContextStart: at.UnixMilli() - 1000, ContextStepMs: 1000}
	a.Applied(testBatch("s1", "h1", 20_000), []store.Incident{inc}, at) // applied by member a only

	m := read(t, ctx, fleet)
	if m["type"] != "window" || m["site"] != "s1" || m["host"] != "h1" || m["start"] != 20_000.0 || m["width"] != 10_000.0 || m["applied"] != float64(at.UnixMilli()) {
		t.Fatalf("fleet page on member b got %v, want a's window", m)
	}
	if m := read(t, ctx, fleet); m["type"] != "incident" || m["incident"].(map[string]any)["incident"] != 9.0 {
		t.Fatalf("fleet page on member b got %v, want a's incident", m)
	}
	// The host page: the window (without values: they stay with the member
	// that applied it; the page re-queries) and its host's incident.
	if m := read(t, ctx, host); m["type"] != "window" || m["host"] != "h1" || m["series"] != nil {
		t.Fatalf("host page on member b got %v", m)
	}
	if m := read(t, ctx, host); m["type"] != "incident" {
		t.Fatalf("host page on member b got %v, want the incident", m)
	}
	// b's own frame reaches its browser once (applied here; its own notice
	// is skipped).
	b.Applied(testBatch("s2", "h9", 30_000), nil, at)
	if m := read(t, ctx, fleet); m["host"] != "h9" {
		t.Fatalf("fleet page got %v, want b's own window", m)
	}
	rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, data, err := fleet.Read(rctx)
	rcancel()
	if err == nil {
		t.Fatalf("a second message for b's own frame: %s", data)
	}

	if got := testutil.ToFloat64(b.met.noticesReceived); got != 1 {
		t.Errorf("member b received %v notices from others, want 1", got)
	}
	if got := testutil.ToFloat64(idle.met.noticesReceived); got != 0 {
		t.Errorf("a member without browsers received %v notices, want 0", got)
	}
	if got := testutil.ToFloat64(a.met.noticesSent); got != 1 {
		t.Errorf("member a published %v notices, want 1", got)
	}
	if !strings.Contains(metricsText(t, b), "edgepulse_console_notice_bytes_received_total") {
		t.Error("notice bytes missing from /metrics")
	}
}

// TestNoticeBytes measures a window notice (no incident) as published,
// for docs/console.md: the bytes every member with browsers receives per
// frame applied anywhere in the region.
func TestNoticeBytes(t *testing.T) {
	doc, err := json.Marshal(&notice{From: "console/aggregator-1/0a1b2c3d", Site: "site-eu-west-1a", Host: "web-0042.example.net",
		Start: 1765056180000, Width: 10_000, Applied: 1765056190123})
	if err != nil {
		t.Fatal(err)
	}
	n := len(doc) + len(NoticeSubject)
	// NATS adds "MSG <subject> <sid> <len>\r\n…\r\n" on the wire: ~20 B
	// more than the subject and payload counted here.
	t.Logf("RESULT notice_bytes=%d notice_bytes_per_host_min_10s_windows=%d notice_bytes_per_host_min_60s_windows=%d", n, 6*n, n)
	if n > 200 {
		t.Errorf("a window notice is %d bytes, more than the 200 documented", n)
	}
}

// BenchmarkApplied is what Applied costs the ingest path per frame with
// one browser connected, without notices and with them (published to a
// real nats-server; the console also receives its own and skips it).
func BenchmarkApplied(b *testing.B) {
	for _, withNotices := range []bool{false, true} {
		name := "local"
		if withNotices {
			name = "notices"
		}
		b.Run(name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var c *Console
			var url string
			if withNotices {
				c, url = member(b, startNATS(b).ConnectedUrl(), "bench")
			} else {
				c, url = serve(b, Limits{})
			}
			ws, err := dial(b, ctx, url, tok)
			if err != nil {
				b.Fatal(err)
			}
			defer ws.CloseNow()
			go func() { // a browser reading as fast as it can
				for {
					if _, _, err := ws.Read(ctx); err != nil {
						return
					}
				}
			}()
			ws.Write(ctx, websocket.MessageText, []byte(`{"type":"sub","fleet":true}`))
			batch := testBatch("site-eu-west-1a", "web-0042.example.net", 1765056180000)
			at := time.Now()
			b.ResetTimer()
			for b.Loop() {
				c.Applied(batch, nil, at)
			}
		})
	}
}
