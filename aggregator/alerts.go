package aggregator

import (
	"encoding/json"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// publishAlerts republishes a stored batch's incident events as JSON on
// alerts.<site>.<host> for people watching with nats sub. A redelivered
// batch publishes its alerts again (at least once); the incident id lets a
// reader drop repeats.
func (a *Aggregator) publishAlerts(b *codec.Batch, incs []store.Incident) {
	if len(incs) == 0 {
		return
	}
	subject := "alerts." + b.Site + "." + b.Host
	for i := range incs {
		doc, err := json.Marshal(&incs[i])
		if err != nil {
			a.log.Warn("encoding alert", "subject", subject, "err", err)
			continue
		}
		if err := a.nc.Publish(subject, doc); err != nil {
			a.log.Warn("publishing alert", "subject", subject, "err", err)
		}
		a.alerts.Add(1)
	}
}
