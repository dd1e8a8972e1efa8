package aggregator

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// incidentSweep is what the expiry of open incidents (store
// ExpireOpenIncidents) has done on this member: it runs from the
// capacity loop every capacityEvery, on every member (the store's script
// makes concurrent runs safe), so an incident whose close never came
// leaves the open list within capacityEvery of passing
// redis.incident_open_max_age.
type incidentSweep struct {
	errs atomic.Uint64
	open atomic.Int64 // open incidents after the last successful run; -1 before it
	// republish sends the close events of the incidents expired on
	// alerts.> (alertPublisher.publishExpired); nil: not sent.
	republish func([]store.Incident)
	// console pushes them, written at the given time, to the web
	// console's browsers on every member (console.Console.Expired); nil:
	// not pushed.
	console func([]store.Incident, time.Time)
}

// sweepIncidents runs the expiry once; a failure is counted and logged,
// and the next run continues.
func (h *storeHealth) sweepIncidents(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	r, err := h.store.ExpireOpenIncidents(sctx, time.Now())
	cancel()
	if h.incidents.republish != nil {
		h.incidents.republish(r.Closed) // also those of a run that failed part way
	}
	if h.incidents.console != nil && len(r.Closed) > 0 {
		h.incidents.console(r.Closed, time.UnixMilli(r.Closed[0].Time)) // the expiry's time, written in each close
	}
	if err != nil {
		if ctx.Err() == nil {
			h.incidents.errs.Add(1)
			h.log.Warn("expiring open incidents; the next sweep continues", "age", r.Age, "cap", r.Cap, "err", err)
		}
		return
	}
	h.incidents.open.Store(int64(r.Open))
	if r.Age+r.Cap > 0 {
		h.log.Info("closed open incidents as expired", "age", r.Age, "cap", r.Cap, "open", r.Open)
	}
}
