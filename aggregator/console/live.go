package console

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// Live-mode lease timing: the console asks for liveLease and renews every
// liveRenew while a viewer stays, so an agent whose console vanished (crash,
// cut link) stops within liveLease; the last viewer leaving ends it at once
// (lease 0). Each renewal's reply costs the uplink ~150 B.
const (
	liveLease   = 15 * time.Second
	liveRenew   = 5 * time.Second
	liveTimeout = 5 * time.Second
)

// live manages the console's live-mode leases: one per watched host,
// whatever the number of browsers watching it.
type live struct {
	nc      *nats.Conn
	watcher string // this console's id in the agents' leases
	hub     *hub
	met     *metrics
	log     *slog.Logger
	max     int

	mu    sync.Mutex
	hosts map[string]*liveHost
	// ending holds, per host, the done channel of a stream being ended
	// whose lease_ms 0 may still be on its way to the agent. The agent
	// knows this console by one watcher id, so a stream started again for
	// the host (a page re-rendered, Live toggled) waits for it: otherwise
	// the old "stop" could reach the agent after the new lease and end it.
	// An entry lives at most liveTimeout.
	ending map[string]chan struct{}
}

// liveHost is one watched host: its viewers' selectors, the subscription
// to its frames and the renewing goroutine.
type liveHost struct {
	site, host string
	viewers    map[uint64][]codec.LiveSelector
	sub        *nats.Subscription
	kick, stop chan struct{}
	done       chan struct{} // closed once the renewing goroutine sent its last request
	meter      byteMeter
	keys       []string // the agent's last keys (codec.LiveFrame); frame's goroutine only
}

// join adds viewer id to the watchers of site/host, starting the stream
// when it is the first.
func (l *live) join(id uint64, site, host string, sel []codec.LiveSelector) error {
	if len(sel) == 0 || len(sel) > codec.MaxLiveSelectors {
		return fmt.Errorf("live: name 1 to %d series to stream, got %d", codec.MaxLiveSelectors, len(sel))
	}
	key := site + "/" + host
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[key]
	if h == nil {
		if len(l.hosts) >= l.max {
			return fmt.Errorf("live: %d hosts already stream live to this aggregator (console.max_live_hosts)", l.max)
		}
		h = &liveHost{site: site, host: host, viewers: map[uint64][]codec.LiveSelector{},
			kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
		h.meter.start = time.Now()
		sub, err := l.nc.Subscribe(codec.LiveSubject(site, host), func(m *nats.Msg) { l.frame(key, h, m) })
		if err != nil {
			return fmt.Errorf("live: subscribe %s: %w", codec.LiveSubject(site, host), err)
		}
		h.sub = sub
		l.hosts[key] = h
		l.met.liveHosts.Set(float64(len(l.hosts)))
		go l.renew(key, h, l.ending[key])
	}
	h.viewers[id] = sel
	select {
	case h.kick <- struct{}{}:
	default:
	}
	return nil
}

// leave removes viewer id from site/host; the last one out ends the lease.
func (l *live) leave(id uint64, site, host string) {
	key := site + "/" + host
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leaveLocked(id, key)
}

func (l *live) leaveLocked(id uint64, key string) {
	h := l.hosts[key]
	if h == nil {
		return
	}
	delete(h.viewers, id)
	if len(h.viewers) > 0 {
		select {
		case h.kick <- struct{}{}:
		default:
		}
		return
	}
	h.sub.Unsubscribe()
	close(h.stop)
	if l.ending == nil {
		l.ending = map[string]chan struct{}{}
	}
	l.ending[key] = h.done
	delete(l.hosts, key)
	l.met.liveHosts.Set(float64(len(l.hosts)))
}

// leaveAll removes viewer id everywhere (its connection closed).
func (l *live) leaveAll(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, h := range l.hosts {
		if _, ok := h.viewers[id]; ok {
			l.leaveLocked(id, key)
		}
	}
}

// closeAll ends every lease (the aggregator is stopping).
func (l *live) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, h := range l.hosts {
		clear(h.viewers)
		l.leaveLocked(0, key)
	}
}

// selectors is the union of the viewers' selectors, sorted and bounded.
func (l *live) selectors(h *liveHost) []codec.LiveSelector {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []codec.LiveSelector
	seen := map[string]bool{}
	for _, sel := range h.viewers {
		for _, s := range sel {
			b, _ := json.Marshal(s)
			if !seen[string(b)] && len(out) < codec.MaxLiveSelectors {
				seen[string(b)] = true
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b codec.LiveSelector) int {
		x, _ := json.Marshal(a)
		y, _ := json.Marshal(b)
		return slices.Compare(x, y)
	})
	return out
}

// renew holds h's lease at the agent until stop, then ends it. prev, when
// not nil, is the done channel of the host's previous stream: its ending
// request goes first.
func (l *live) renew(key string, h *liveHost, prev <-chan struct{}) {
	defer func() {
		l.mu.Lock()
		if l.ending[key] == h.done {
			delete(l.ending, key)
		}
		l.mu.Unlock()
		close(h.done)
	}()
	if prev != nil {
		select {
		case <-prev:
		case <-h.stop:
			return // ended before it began: the previous stream's stop stands
		}
	}
	t := time.NewTicker(liveRenew)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			l.request(h, nil, 0)
			return
		case <-h.kick:
		case <-t.C:
		}
		l.request(h, l.selectors(h), liveLease)
	}
}

func (l *live) request(h *liveHost, sel []codec.LiveSelector, lease time.Duration) {
	req, _ := json.Marshal(codec.LiveRequest{Watcher: l.watcher, Series: sel, LeaseMS: lease.Milliseconds()})
	subject := codec.AgentSubject(h.site, h.host, codec.EndpointLive)
	msg, err := l.nc.Request(subject, req, liveTimeout)
	if err == nil {
		if e := msg.Header.Get("Nats-Service-Error"); e != "" {
			err = fmt.Errorf("agent says %s (%s)", e, msg.Header.Get("Nats-Service-Error-Code"))
		}
	}
	if err != nil {
		l.met.liveErrors.Inc()
		l.log.Debug("live: lease request", "subject", subject, "err", err)
		if lease > 0 {
			doc, _ := json.Marshal(map[string]string{"type": "live_error", "site": h.site, "host": h.host,
				"error": fmt.Sprintf("%s: %v", subject, err)})
			l.hub.liveTo(h.site+"/"+h.host, doc)
		}
	}
}

// liveMsg carries one agent frame, its values named, to the browsers
// watching its host.
type liveMsg struct {
	Type        string    `json:"type"` // "live"
	Site        string    `json:"site"`
	Host        string    `json:"host"`
	Recv        int64     `json:"recv"`          // Unix ms the hub delivered it here
	BytesPerMin float64   `json:"bytes_per_min"` // live frames' payload over the last minute
	Frame       liveFrame `json:"frame"`
}

type liveFrame struct {
	TS     int64             `json:"t"`
	Taken  int64             `json:"taken"`
	Points []codec.LivePoint `json:"p"`
}

// frame names an agent's frame with the last keys it sent and pushes it.
// A frame that cannot be decoded, or whose values do not match the keys
// known (the keys are repeated within codec.LiveKeyEvery frames), is
// dropped and counted.
func (l *live) frame(key string, h *liveHost, m *nats.Msg) {
	now := time.Now()
	l.met.liveFrames.Inc()
	l.met.liveBytes.Add(float64(len(m.Data)))
	bpm := h.meter.add(now, len(m.Data)+len(m.Subject))
	var f codec.LiveFrame
	if err := json.Unmarshal(m.Data, &f); err != nil {
		l.met.liveDropped.Inc()
		return
	}
	if f.Keys != nil {
		h.keys = f.Keys
	}
	if len(f.Values) != len(h.keys) {
		l.met.liveDropped.Inc()
		return
	}
	out := liveMsg{Type: "live", Site: h.site, Host: h.host, Recv: now.UnixMilli(), BytesPerMin: bpm,
		Frame: liveFrame{TS: f.TS, Taken: f.Taken, Points: make([]codec.LivePoint, len(f.Values))}}
	for i, v := range f.Values {
		out.Frame.Points[i] = codec.LivePoint{Series: h.keys[i], Value: float64(v)}
	}
	doc, err := json.Marshal(&out)
	if err != nil {
		return
	}
	l.hub.liveTo(key, doc)
}

// byteMeter is a host's live bytes over the last minute (extrapolated to a
// minute while the stream is younger). Called from one NATS subscription
// goroutine only.
type byteMeter struct {
	start time.Time
	at    []time.Time
	n     []int
	sum   int
}

func (b *byteMeter) add(now time.Time, n int) float64 {
	b.at, b.n = append(b.at, now), append(b.n, n)
	b.sum += n
	i := 0
	for i < len(b.at) && (now.Sub(b.at[i]) > time.Minute || len(b.at)-i > 1024) {
		b.sum -= b.n[i]
		i++
	}
	b.at, b.n = b.at[i:], b.n[i:]
	span := min(now.Sub(b.start), time.Minute)
	if span < time.Second {
		span = time.Second
	}
	return float64(b.sum) * float64(time.Minute) / float64(span)
}
