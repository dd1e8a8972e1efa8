package console

import (
	"encoding/json"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// expiredPerNotice bounds the close events one incidents-only notice
// carries. An expiry close has no raw context (~300 B), so a notice stays
// under ~20 KB, far below the hub's max payload (1 MB) even when a lowered
// redis.incident_open_max expires thousands at once.
const expiredPerNotice = 64

// incidents pushes each incident, as an incidentMsg and nothing else, to
// the clients that asked for incidents or show its host.
func (h *hub) incidents(incs []store.Incident, at time.Time) {
	if h.nClients.Load() == 0 {
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for i := range incs {
		doc, err := json.Marshal(&incidentMsg{Type: "incident", Applied: at.UnixMilli(), Incident: &incs[i]})
		if err != nil {
			continue
		}
		key := incs[i].Site + "/" + incs[i].Host
		for _, c := range h.clients {
			if _, onHost := c.hosts[key]; c.incidents || onHost {
				h.send(c, doc)
			}
		}
	}
}

// publishIncidents sends incidents written here at at as incidents-only
// notices (no site, host or window; see receive), at most
// expiredPerNotice each.
func (n *notices) publishIncidents(incs []store.Incident, at time.Time) {
	if n.nc == nil {
		return
	}
	for len(incs) > 0 {
		k := min(len(incs), expiredPerNotice)
		n.send(&notice{From: n.id, Applied: at.UnixMilli(), Incidents: incs[:k]})
		incs = incs[k:]
	}
}
