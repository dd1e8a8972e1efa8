package aggregator

import (
	"encoding/json"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// alertPublisher republishes stored incidents on alerts.<site>.<host>.
// Safe for concurrent use (every partition's worker publishes).
type alertPublisher struct {
	nc   *nats.Conn
	log  *slog.Logger
	sent atomic.Uint64 // incident events republished
}

// publish republishes a stored batch's incident events as JSON on
// alerts.<site>.<host> for people watching with nats sub. A redelivered
// batch publishes its alerts again (at least once); the incident id lets a
// reader drop repeats.
func (p *alertPublisher) publish(b *codec.Batch, incs []store.Incident) {
	if len(incs) == 0 {
		return
	}
	subject := "alerts." + b.Site + "." + b.Host
	for i := range incs {
		doc, err := json.Marshal(&incs[i])
		if err != nil {
			p.log.Warn("encoding alert", "subject", subject, "err", err)
			continue
		}
		if err := p.nc.Publish(subject, doc); err != nil {
			p.log.Warn("publishing alert", "subject", subject, "err", err)
		}
		p.sent.Add(1)
	}
}

// publishExpired republishes the close events the store wrote for
// incidents it closed as expired (store ExpireOpenIncidents, or a write
// past redis.incident_open_max), each on its own alerts.<site>.<host>.
func (p *alertPublisher) publishExpired(incs []store.Incident) {
	for i := range incs {
		p.publish(&codec.Batch{Site: incs[i].Site, Host: incs[i].Host}, incs[i:i+1])
	}
}
