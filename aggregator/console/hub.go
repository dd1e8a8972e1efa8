package console

import (
	"encoding/json"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// client is one browser connection's subscriptions and outbox. The
// subscription fields are guarded by hub.mu.
type client struct {
	id   uint64
	addr string // client address, for the per-client limit
	out  *outbox

	fleet     bool                // every host's window notices
	incidents bool                // incident transitions
	hosts     map[string][]string // "site/host" → series names whose windows it wants (nil: none)
	live      map[string]bool     // "site/host" watched live
}

// hub keeps the connected clients and fans pushes out to them.
type hub struct {
	met *metrics

	mu       sync.RWMutex
	clients  map[uint64]*client
	perAddr  map[string]int
	nextID   uint64
	nClients atomic.Int64
}

func newHub(met *metrics) *hub {
	return &hub{met: met, clients: map[uint64]*client{}, perAddr: map[string]int{}}
}

// add registers a connection unless a limit refuses it (reason non-"").
func (h *hub) add(addr string, l Limits) (*client, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case len(h.clients) >= l.MaxConns:
		return nil, refuseLimit
	case h.perAddr[addr] >= l.MaxConnsPerClient:
		return nil, refuseClientLimit
	}
	h.nextID++
	c := &client{id: h.nextID, addr: addr, out: newOutbox(l.Outbox)}
	h.clients[c.id] = c
	h.perAddr[addr]++
	h.nClients.Store(int64(len(h.clients)))
	h.met.conns.Set(float64(len(h.clients)))
	return c, ""
}

func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c.id]; !ok {
		return
	}
	delete(h.clients, c.id)
	if h.perAddr[c.addr]--; h.perAddr[c.addr] <= 0 {
		delete(h.perAddr, c.addr)
	}
	h.nClients.Store(int64(len(h.clients)))
	h.met.conns.Set(float64(len(h.clients)))
	c.out.close()
}

func (h *hub) send(c *client, msg []byte) {
	if c.out.push(msg) {
		h.met.dropped.Inc()
	}
}

// windowMsg is pushed when a frame of a subscribed host is applied.
type windowMsg struct {
	Type    string         `json:"type"` // "window"
	Site    string         `json:"site"`
	Host    string         `json:"host"`
	Start   int64          `json:"start"`
	Width   int64          `json:"width"`
	Applied int64          `json:"applied"` // Unix ms the store acknowledged the write
	Series  []windowSeries `json:"series,omitempty"`
}

type windowSeries struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Avg    float64           `json:"avg"`
	Min    float64           `json:"min"`
	Max    float64           `json:"max"`
	Last   float64           `json:"last"`
	P99    *float64          `json:"p99,omitempty"`
}

// incidentMsg is pushed for every incident transition applied.
type incidentMsg struct {
	Type     string          `json:"type"` // "incident"
	Applied  int64           `json:"applied"`
	Incident *store.Incident `json:"incident"`
}

// applied pushes a stored frame's window and incidents to the clients that
// asked for them. It only encodes and appends to outboxes.
func (h *hub) applied(b *codec.Batch, incs []store.Incident, at time.Time) {
	if h.nClients.Load() == 0 {
		return
	}
	base := windowMsg{Type: "window", Site: b.Site, Host: b.Host, Start: b.Start, Width: b.Width, Applied: at.UnixMilli()}
	h.push(base, b, incs)
}

// push sends the window base, with the values of the series a host page
// asked for when b is not nil (a frame applied here; another member's
// notice has none), and the incidents, to the clients that asked for them.
func (h *hub) push(base windowMsg, b *codec.Batch, incs []store.Incident) {
	key := base.Site + "/" + base.Host
	var plain []byte // the window without series, for fleet pages
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.clients {
		names, onHost := c.hosts[key]
		if onHost && len(names) > 0 && b != nil {
			m := base
			m.Series = windowValues(b, names)
			if doc, err := json.Marshal(&m); err == nil {
				h.send(c, doc)
			}
			continue
		}
		if c.fleet || onHost {
			if plain == nil {
				plain, _ = json.Marshal(&base)
			}
			h.send(c, plain)
		}
	}
	at := time.UnixMilli(base.Applied)
	for i := range incs {
		doc, err := json.Marshal(&incidentMsg{Type: "incident", Applied: at.UnixMilli(), Incident: &incs[i]})
		if err != nil {
			continue
		}
		for _, c := range h.clients {
			if _, onHost := c.hosts[key]; c.incidents || onHost {
				h.send(c, doc)
			}
		}
	}
}

// windowValues are the window's statistics of the series named in names.
func windowValues(b *codec.Batch, names []string) []windowSeries {
	desc := make(map[uint32]*codec.Series, len(b.Series))
	for i := range b.Series {
		desc[b.Series[i].ID] = &b.Series[i]
	}
	var out []windowSeries
	for i := range b.Rollups {
		r := &b.Rollups[i]
		d := desc[r.ID]
		if d == nil || r.Count == 0 || !slices.Contains(names, d.Name) || !finite(r.Sum, r.Min, r.Max, r.Last) {
			continue
		}
		ws := windowSeries{Name: d.Name, Avg: r.Sum / float64(r.Count), Min: r.Min, Max: r.Max, Last: r.Last}
		if len(d.Labels) > 0 {
			ws.Labels = make(map[string]string, len(d.Labels)/2)
			for j := 0; j+1 < len(d.Labels); j += 2 {
				ws.Labels[d.Labels[j]] = d.Labels[j+1]
			}
		}
		if len(r.Quantiles) == len(codec.QuantileLevels) && finite(r.Quantiles[2]) {
			p := r.Quantiles[2]
			ws.P99 = &p
		}
		out = append(out, ws)
	}
	return out
}

// liveTo pushes a live message to the clients watching key.
func (h *hub) liveTo(key string, msg []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.clients {
		if c.live[key] {
			h.send(c, msg)
		}
	}
}

// finite: JSON carries no NaN or infinity; such a window is left out.
func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
