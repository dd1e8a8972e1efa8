package agent

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/queue"
)

// liveStream is live mode on the agent: while at least one watcher holds
// a lease (codec.LiveRequest on the live endpoint), every collection's
// samples of the watched series are published as one codec.LiveFrame on
// codec.LiveSubject, their names only when they change and every
// codec.LiveKeyEvery frames. When the last lease lapses the stream stops at the
// next cycle; nothing is published, so nothing crosses the leaf link.
//
// serveLive runs on the micro service's goroutine; add and flush on the
// rollup loop. mu guards everything but active, which lets add skip the
// lock while nobody watches.
type liveStream struct {
	active atomic.Bool

	mu       sync.Mutex
	watchers map[string]liveWatch
	keys     map[uint32]string // series id → its text form; "" when not watched
	frame    codec.LiveFrame   // this cycle's, Keys always filled
	sent     []string          // the keys of the last frame that carried them
	sinceKey int               // frames published since

	frames, points, bytes, capped atomic.Uint64
}

type liveWatch struct {
	sel    []codec.LiveSelector
	expiry time.Time
}

// serveLive answers a codec.LiveRequest: 400 for a malformed one, 429
// when codec.MaxLiveWatchers other watchers hold leases.
func (a *Agent) serveLive(r micro.Request) {
	var req codec.LiveRequest
	if len(r.Data()) > MaxHistoryRequest {
		r.Error("413", fmt.Sprintf("request of %d bytes exceeds %d", len(r.Data()), MaxHistoryRequest), nil)
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(r.Data())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		r.Error("400", `bad live request (want {"watcher":…,"series":[{"name":…,"matchers":{…}}],"lease_ms":n}): `+err.Error(), nil)
		return
	}
	if err := req.Validate(); err != nil {
		r.Error("400", err.Error(), nil)
		return
	}
	lease := min(time.Duration(req.LeaseMS)*time.Millisecond, codec.MaxLiveLease)
	l := &a.od.live
	l.mu.Lock()
	l.expire(time.Now())
	if _, ok := l.watchers[req.Watcher]; !ok && lease > 0 && len(l.watchers) >= codec.MaxLiveWatchers {
		l.mu.Unlock()
		r.Error("429", fmt.Sprintf("%d watchers already hold leases (max %d)", codec.MaxLiveWatchers, codec.MaxLiveWatchers), nil)
		return
	}
	if l.watchers == nil {
		l.watchers = map[string]liveWatch{}
	}
	if lease > 0 {
		l.watchers[req.Watcher] = liveWatch{sel: req.Series, expiry: time.Now().Add(lease)}
	} else {
		delete(l.watchers, req.Watcher)
	}
	l.keys, l.sent = nil, nil // the selection may have changed: send the keys again
	l.active.Store(len(l.watchers) > 0)
	n := len(l.watchers)
	l.mu.Unlock()
	respondJSON(r, codec.LiveResponse{Subject: codec.LiveSubject(a.cfg.Site, a.cfg.Host), LeaseMS: lease.Milliseconds(), Watchers: n})
}

// expire drops lapsed leases. Call with mu held.
func (l *liveStream) expire(now time.Time) {
	for w, lw := range l.watchers {
		if now.After(lw.expiry) {
			delete(l.watchers, w)
			l.keys = nil
		}
	}
	l.active.Store(len(l.watchers) > 0)
}

// add keeps the popped samples of watched series for this cycle's frame.
func (a *Agent) liveAdd(s []queue.Sample) {
	l := &a.od.live
	if !l.active.Load() || len(s) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[uint32]string{}
	}
	for _, x := range s {
		key, ok := l.keys[x.Series]
		if !ok {
			key = l.keyOf(a, x.Series)
			l.keys[x.Series] = key
		}
		if key == "" {
			continue
		}
		if len(l.frame.Values) >= codec.MaxLivePoints {
			l.capped.Add(1)
			continue
		}
		l.frame.TS = x.TS
		l.frame.Keys = append(l.frame.Keys, key)
		l.frame.Values = append(l.frame.Values, codec.LiveValue(x.Value))
	}
}

// keyOf is the text form of series id when a watcher selects it, else "".
func (l *liveStream) keyOf(a *Agent, id uint32) string {
	name, lbls, ok := a.seriesName(id)
	if !ok {
		return ""
	}
	for _, w := range l.watchers {
		for _, sel := range w.sel {
			if sel.Name == name && labelsMatch(lbls, sel.Matchers) {
				return seriesText(name, lbls)
			}
		}
	}
	return ""
}

func labelsMatch(pairs []string, m map[string]string) bool {
	for k, v := range m {
		found := false
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i] == k && pairs[i+1] == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func seriesText(name string, pairs []string) string {
	if len(pairs) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", pairs[i], pairs[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// liveFlush publishes the cycle's frame, if any, and ends lapsed leases.
// The publish is buffered by the NATS client: a slow leaf never blocks the
// rollup loop (while disconnected the frames are dropped by the client's
// reconnect buffer bound, as live samples are worthless late).
func (a *Agent) liveFlush() {
	l := &a.od.live
	if !l.active.Load() {
		return
	}
	l.mu.Lock()
	l.expire(time.Now())
	f := l.frame
	l.frame.Keys, l.frame.Values = l.frame.Keys[:0], l.frame.Values[:0]
	if len(f.Values) == 0 {
		l.mu.Unlock()
		return
	}
	f.Taken = f.TS + collectPhase(a.cfg.AgentID(), a.cfg.Interval).Milliseconds()
	if slices.Equal(f.Keys, l.sent) && l.sinceKey < codec.LiveKeyEvery {
		f.Keys = nil // the watchers know them
		l.sinceKey++
	} else {
		l.sent = append(l.sent[:0], f.Keys...)
		l.sinceKey = 1
	}
	b, err := json.Marshal(&f)
	l.mu.Unlock()
	if err != nil {
		a.log.Warn("live: encoding a frame", "err", err)
		return
	}
	if err := a.nc.Publish(codec.LiveSubject(a.cfg.Site, a.cfg.Host), b); err != nil {
		a.log.Debug("live: publish", "err", err)
		return
	}
	l.frames.Add(1)
	l.points.Add(uint64(len(f.Values)))
	l.bytes.Add(uint64(len(b)))
}

// serveLiveMetrics writes the live-mode counters.
func (a *Agent) serveLiveMetrics(metric func(name, typ, help string, v float64)) {
	l := &a.od.live
	l.mu.Lock()
	n := len(l.watchers)
	l.mu.Unlock()
	metric("edgepulse_agent_live_watchers", "gauge", "Watchers holding a live-mode lease.", float64(n))
	metric("edgepulse_agent_live_frames_total", "counter", "Live-mode frames published.", float64(l.frames.Load()))
	metric("edgepulse_agent_live_points_total", "counter", "Samples published in live-mode frames.", float64(l.points.Load()))
	metric("edgepulse_agent_live_bytes_total", "counter", "Bytes of live-mode frames published (before the leaf's compression).", float64(l.bytes.Load()))
	metric("edgepulse_agent_live_capped_total", "counter", "Samples of watched series left out of a frame over codec.MaxLivePoints.", float64(l.capped.Load()))
}
