package aggregator

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// keyframeEvery bounds how often one agent is asked for a keyframe: the
// first delta whose base is missing asks at once, and while frames keep
// missing their base (the keyframe is on its way, or the request was lost
// with the agent offline) the agent is asked again every 10 s at most.
const keyframeEvery = 10 * time.Second

// keyframes asks an agent for a keyframe (ep.agent.<site>.<host>.keyframe)
// when its chain of frames broke here: a delta whose base is missing (the
// state saved in Redis is older than its base, or gone), or a frame
// rejected as malformed. Without it the chain
// would stay broken until the agent's next periodic keyframe
// (wire.keyframe windows later); with it the next window decodes. The
// request is a fire-and-forget publish: an agent that is offline gets its
// next keyframe on reconnect anyway.
type keyframes struct {
	nc    *nats.Conn
	log   *slog.Logger
	mu    sync.Mutex
	last  map[string]time.Time // by agent
	asked atomic.Uint64
}

func newKeyframes(nc *nats.Conn, log *slog.Logger) *keyframes {
	return &keyframes{nc: nc, log: log, last: map[string]time.Time{}}
}

// ask requests a keyframe from site/host, at most once per keyframeEvery.
func (k *keyframes) ask(site, host string) {
	agent := site + "/" + host
	now := time.Now()
	k.mu.Lock()
	if t, ok := k.last[agent]; ok && now.Sub(t) < keyframeEvery {
		k.mu.Unlock()
		return
	}
	k.last[agent] = now
	for a, t := range k.last { // keep the map to the agents asked lately
		if now.Sub(t) >= keyframeEvery {
			delete(k.last, a)
		}
	}
	k.mu.Unlock()
	if err := k.nc.Publish(codec.AgentSubject(site, host, codec.EndpointKeyframe), nil); err != nil {
		k.log.Warn("asking agent for a keyframe", "agent", agent, "err", err)
		return
	}
	k.asked.Add(1)
	k.log.Info("asked agent for a keyframe", "agent", agent)
}
