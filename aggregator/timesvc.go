package aggregator

import (
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// serveTime answers agents' time requests (codec.TimeSubject) with this
// member's clock, in a queue group so one member answers each: agents
// measure their clock's offset from it (edge/agent/clock.go) and correct
// their windows' stamps when it is too far off. The members' clocks are
// assumed NTP-synchronised (docs/security.md, "Clocks").
func serveTime(nc *nats.Conn) error {
	_, err := nc.QueueSubscribe(codec.TimePrefix+">", "edgepulse-time", func(m *nats.Msg) {
		if m.Reply != "" {
			m.Respond(codec.EncodeTime(time.Now().UnixNano()))
		}
	})
	return err
}
