package console

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// expiredClose is the close event the store writes for an incident it
// expired (store expiryClose): no context, Expired and Reason set.
func expiredClose(site, host string, id uint64, at time.Time) store.Incident {
	return store.Incident{Site: site, Host: host, Agent: site + "/" + host, State: "closed", Incident: id, Series: "node_load1",
		Time: at.UnixMilli(), Expired: "age", Reason: "expired: no event since …"}
}

// wantIncident fails unless m is the incident message of the close of
// incident id on host, applied at at.
func wantIncident(t *testing.T, who string, m map[string]any, host string, id uint64, at time.Time) {
	t.Helper()
	inc, _ := m["incident"].(map[string]any)
	if m["type"] != "incident" || m["applied"] != float64(at.UnixMilli()) || inc == nil || inc["host"] != host ||
		inc["incident"] != float64(id) || inc["state"] != "closed" || inc["expired"] != "age" {
		t.Fatalf("%s got %v, want the expired close of incident %d on %s", who, m, id, host)
	}
}

// TestExpiredPush: the close of an incident the store expired reaches the
// incidents and fleet pages and its host's page, alone (no window), and
// no other host's page or a page that asked for windows only.
func TestExpiredPush(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, url := serve(t, Limits{})
	subs := map[string]string{
		"fleet":      `{"type":"sub","fleet":true,"incidents":true}`, // the fleet page's subscription (app.js)
		"windows":    `{"type":"sub","fleet":true}`,
		"host h1":    `{"type":"sub","incidents":true,"hosts":[{"site":"s1","host":"h1","names":["node_load1"]}]}`,
		"only h2":    `{"type":"sub","hosts":[{"site":"s2","host":"h2","names":["node_load1"]}]}`,
		"incidents2": `{"type":"sub","incidents":true}`, // the incidents page's
	}
	ws := map[string]*websocket.Conn{}
	for name, sub := range subs {
		w, err := dial(t, ctx, url, tok)
		if err != nil {
			t.Fatal(err)
		}
		read(t, ctx, w) // hello
		w.Write(ctx, websocket.MessageText, []byte(sub))
		ws[name] = w
	}
	subscribed(t, c, 4) // "incidents2" has neither fleet nor hosts: wait for it apart
	waitFor(t, "the incidents page's subscription", func() bool {
		c.hub.mu.RLock()
		defer c.hub.mu.RUnlock()
		n := 0
		for _, cl := range c.hub.clients {
			if cl.incidents {
				n++
			}
		}
		return n == 3
	})

	at := time.Now().Add(-time.Second)
	c.Expired([]store.Incident{expiredClose("s1", "h1", 7, at)}, at)
	// A marker after it: what a page reads first shows what it was pushed.
	c.Expired([]store.Incident{expiredClose("s2", "h2", 8, at)}, at)
	c.Applied(testBatch("s3", "marker", 0), nil, at)

	for _, name := range []string{"fleet", "incidents2"} {
		wantIncident(t, name, read(t, ctx, ws[name]), "h1", 7, at)
		wantIncident(t, name, read(t, ctx, ws[name]), "h2", 8, at)
	}
	wantIncident(t, "host h1", read(t, ctx, ws["host h1"]), "h1", 7, at)
	wantIncident(t, "host h1", read(t, ctx, ws["host h1"]), "h2", 8, at) // it asked for incidents too
	wantIncident(t, "only h2", read(t, ctx, ws["only h2"]), "h2", 8, at)
	for _, name := range []string{"fleet", "windows"} {
		if m := read(t, ctx, ws[name]); m["type"] != "window" || m["host"] != "marker" {
			t.Fatalf("%s got %v, want the marker window (no window for an expiry)", name, m)
		}
	}
	c.Expired(nil, at) // nothing to push: no message, no panic
	var nilc *Console
	nilc.Expired([]store.Incident{expiredClose("s1", "h1", 9, at)}, at)
}

// TestExpiredFleetWide: the closes one member's store expired reach a
// browser connected to another member as incidents-only notices, at
// most expiredPerNotice a notice, with no window; malformed notices
// (no site, host or incidents; a site without a host) are dropped and
// counted, pushing nothing.
func TestExpiredFleetWide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	probe := startNATS(t)
	url := probe.ConnectedUrl()
	a, _ := member(t, url, "a")
	b, burl := member(t, url, "b")
	fleet, host := fleetAndHost(t, ctx, burl, a, b)

	at := time.Now().Add(-time.Second)
	n := 2*expiredPerNotice + 2
	incs := make([]store.Incident, n)
	for i := range incs {
		incs[i] = expiredClose("s2", fmt.Sprintf("h%d", 100+i), uint64(i+1), at)
	}
	incs[n-1] = expiredClose("s1", "h1", uint64(n), at)
	a.Expired(incs, at) // expired by member a's sweep
	for _, bad := range []string{`{"f":"x","a":1}`, `{"f":"x","s":"s1","a":1,"i":[{"site":"s1","host":"h1","incident":1}]}`} {
		if err := probe.Publish(NoticeSubject, []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	probe.Flush()
	// Then a window applied by a, its notice after the others: the fleet
	// page reads it only once everything before was pushed.
	a.Applied(testBatch("s3", "marker", 0), nil, at)

	for i := range n {
		wantIncident(t, "the fleet page on b", read(t, ctx, fleet), incs[i].Host, incs[i].Incident, at)
	}
	if m := read(t, ctx, fleet); m["type"] != "window" || m["host"] != "marker" {
		t.Fatalf("fleet page on b got %v, want a's marker window: nothing else, no window for the notices without one", m)
	}
	wantIncident(t, "the host page on b", read(t, ctx, host), "h1", uint64(n), at)

	if got := testutil.ToFloat64(a.met.noticesSent); got != 4 {
		t.Errorf("member a published %v notices, want 3 for %d closes (%d a notice) and the marker's", got, n, expiredPerNotice)
	}
	if got := testutil.ToFloat64(b.met.noticesReceived); got != 4 {
		t.Errorf("member b received %v notices, want 4", got)
	}
	if got := testutil.ToFloat64(b.met.noticesDropped); got != 2 {
		t.Errorf("member b dropped %v notices, want the 2 malformed", got)
	}
}

// TestExpiredNoticeBytes measures incidents-only notices as published
// (payload and subject), for docs/console.md: one expiry close, and a
// full notice of expiredPerNotice, with long names and the store's
// reason text. A full one must stay far below NATS's 1 MB max payload.
func TestExpiredNoticeBytes(t *testing.T) {
	at := time.UnixMilli(1765056190123)
	inc := expiredClose("site-eu-west-1a", "web-0042.example.net", 1765056180000123, at)
	inc.Labels = map[string]string{"device": "nvme0n1", "mountpoint": "/var/lib/edgepulse"}
	inc.Score, inc.Value = 4.75, 97.25
	inc.Reason = "expired: no event since 2026-11-30T04:13:00Z, longer than redis.incident_open_max_age 168h0m0s"
	size := func(k int) int {
		incs := make([]store.Incident, k)
		for i := range incs {
			incs[i] = inc
		}
		doc, err := json.Marshal(&notice{From: "console/aggregator-1/0a1b2c3d", Applied: at.UnixMilli(), Incidents: incs})
		if err != nil {
			t.Fatal(err)
		}
		return len(doc) + len(NoticeSubject)
	}
	one, full := size(1), size(expiredPerNotice)
	t.Logf("RESULT expired_notice_bytes_1=%d expired_notice_bytes_%d=%d", one, expiredPerNotice, full)
	if full > 64<<10 {
		t.Errorf("a full incidents-only notice is %d bytes, more than the 64 KiB documented", full)
	}
}
