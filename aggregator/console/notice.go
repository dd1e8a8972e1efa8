package console

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// NoticeSubject spreads pushes across the members of a cluster. A member
// applies the frames of the partitions it owns; after each one its console
// publishes a notice (the window's site, host, start, width and applied
// time, and the frame's incidents) here, and every member's console
// subscribes while it has browsers connected, so a browser connected to
// any member is pushed every partition's windows and incidents. The
// notices stay in the region: they travel the hub's own connections and
// cluster routes (NATS sends a message only where there is interest: to
// members with browsers), and a site's leaf may neither publish nor
// subscribe to it (DefaultSitePermissions in the aggregator package).
const NoticeSubject = "ep.console.applied"

// Bounds of the notice subscription: notices waiting for the console past
// these are dropped by the NATS client and counted.
const (
	noticePendingMsgs  = 8192
	noticePendingBytes = 8 << 20
)

// notice is what a member publishes per applied frame. A window notice is
// ~110 B of JSON (measured in TestNoticeBytes); incidents carry their
// documents (~1 KB with raw context). An incidents-only notice (no site,
// host or window: Console.Expired) carries close events the store wrote
// itself, at most expiredPerNotice; a receiver pushes only its incidents.
// A member built before it drops one as malformed (counted in
// noticesDropped) and pushes nothing.
type notice struct {
	From      string           `json:"f"` // the publishing console's id: it skips its own
	Site      string           `json:"s"`
	Host      string           `json:"h"`
	Start     int64            `json:"t"`
	Width     int64            `json:"w"`
	Applied   int64            `json:"a"` // Unix ms the publishing member's store acknowledged the frame
	Incidents []store.Incident `json:"i,omitempty"`
}

// notices publishes this console's applied frames and pushes the other
// members' to its browsers.
type notices struct {
	nc  *nats.Conn // nil: no cluster-wide pushes (tests)
	id  string
	hub *hub
	met *metrics
	log *slog.Logger

	mu      sync.Mutex
	users   int // connected browsers
	sub     *nats.Subscription
	dropped int // sub.Dropped() already counted
}

// publish sends the notice of a frame applied here at at.
func (n *notices) publish(b *codec.Batch, incs []store.Incident, at time.Time) {
	if n.nc == nil {
		return
	}
	n.send(&notice{From: n.id, Site: b.Site, Host: b.Host, Start: b.Start, Width: b.Width,
		Applied: at.UnixMilli(), Incidents: incs})
}

// send publishes nt and counts it.
func (n *notices) send(nt *notice) {
	doc, err := json.Marshal(nt)
	if err != nil {
		return
	}
	if err := n.nc.Publish(NoticeSubject, doc); err != nil {
		n.met.noticeErrors.Inc()
		return
	}
	n.met.noticesSent.Inc()
	n.met.noticeBytesSent.Add(float64(len(doc) + len(NoticeSubject)))
}

// retain subscribes to the notices when the first browser connects.
func (n *notices) retain() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.users++
	if n.sub != nil || n.nc == nil {
		return
	}
	sub, err := n.nc.Subscribe(NoticeSubject, n.receive)
	if err != nil {
		n.met.noticeErrors.Inc()
		n.log.Warn("console: subscribing to the other members' notices; this console pushes only the frames its member applies", "subject", NoticeSubject, "err", err)
		return
	}
	sub.SetPendingLimits(noticePendingMsgs, noticePendingBytes)
	n.sub, n.dropped = sub, 0
}

// release unsubscribes when the last browser leaves, so no member sends
// this one notices nobody reads.
func (n *notices) release() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.users--
	if n.users > 0 || n.sub == nil {
		return
	}
	n.countDropped(n.sub)
	n.sub.Unsubscribe()
	n.sub = nil
}

// countDropped adds what the NATS client dropped for sub since the last
// look. Call with mu held.
func (n *notices) countDropped(sub *nats.Subscription) {
	if d, err := sub.Dropped(); err == nil && d > n.dropped {
		n.met.noticesDropped.Add(float64(d - n.dropped))
		n.dropped = d
	}
}

// receive pushes another member's notice to this console's browsers.
func (n *notices) receive(m *nats.Msg) {
	var nt notice
	err := json.Unmarshal(m.Data, &nt)
	window := nt.Site != "" && nt.Host != ""
	if err != nil || (!window && (nt.Site != "" || nt.Host != "" || len(nt.Incidents) == 0)) {
		n.met.noticesDropped.Inc()
		return
	}
	n.mu.Lock()
	if n.sub == m.Sub {
		n.countDropped(m.Sub)
	}
	n.mu.Unlock()
	if nt.From == n.id {
		return // pushed when it was applied, with its values
	}
	n.met.noticesReceived.Inc()
	n.met.noticeBytesReceived.Add(float64(len(m.Data) + len(m.Subject)))
	if !window { // incidents-only (Console.Expired): no window to push
		n.hub.incidents(nt.Incidents, time.UnixMilli(nt.Applied))
		return
	}
	n.hub.push(windowMsg{Type: "window", Site: nt.Site, Host: nt.Host, Start: nt.Start, Width: nt.Width, Applied: nt.Applied}, nil, nt.Incidents)
}
