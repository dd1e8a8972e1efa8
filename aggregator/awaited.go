package aggregator

import "time"

// A delta frame put back because its base is missing names that base. The
// base may arrive behind it (resent as a keyframe after a retry round
// that straddled the uplink's return or an agent's restart) and be
// applied together with the agent's backlog packed on it, all before the
// waiting frame is redelivered (2–16 s later). The state after such an
// awaited base is kept beyond keptStates until awaitHold after a frame
// was last put back waiting for it (each redelivery that still misses its
// base renews it; a base can have two successors, the waiting frame and
// the retry's next frame, so applying one does not release it). Each waiting frame of a chain awaits the one before
// it, so the whole chain decodes in turn.
//
// Bound: at most maxAwaited awaited bases per agent (a round is at most
// the forwarder's max_in_flight, 32 by default, frames); one more evicts
// the oldest and is counted (edgepulse_aggregator_frames_await_evicted_total). An agent holds at most keptStates +
// maxAwaited decoder states (each a few tens of KB), and only while its
// frames wait.
const (
	maxAwaited = 64
	awaitHold  = 2 * retryMax
)

// await records that a frame of agent waits for base; it reports whether
// an older awaited base had to be forgotten for it (maxAwaited).
func (d *decoders) await(agent string, base uint64) (evicted bool) {
	if base == 0 {
		return false
	}
	w := d.agent(agent)
	if w.awaited == nil {
		w.awaited = map[uint64]time.Time{}
	}
	if _, ok := w.awaited[base]; !ok && len(w.awaited) >= maxAwaited {
		var oldest uint64
		var at time.Time
		for s, t := range w.awaited {
			if oldest == 0 || t.Before(at) {
				oldest, at = s, t
			}
		}
		delete(w.awaited, oldest)
		evicted = true
	}
	w.awaited[base] = d.now()
	return evicted
}

// evictStates trims w.states to keptStates states that no waiting frame
// awaits, dropping the oldest first; awaited states stay (see await).
func (w *agentWire) evictStates(now time.Time) {
	for s, t := range w.awaited {
		if now.Sub(t) > awaitHold {
			delete(w.awaited, s)
		}
	}
	for {
		free, victim := 0, uint64(0)
		for s := range w.states {
			if _, held := w.awaited[s]; held {
				continue
			}
			free++
			if victim == 0 || s < victim {
				victim = s
			}
		}
		if free <= keptStates {
			return
		}
		delete(w.states, victim)
		delete(w.unsure, victim)
	}
}
