package aggregator

import (
	"cmp"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// The stream does not always hold an agent's frames in the order the
// agent published them. make faults scenario A showed it: frames an agent
// published back to back through its site's leaf while the leaf's uplink
// came back were stored as …372, 374, 373, 375…, …385, 380…384…, 387,
// 386, 391, 390, 388, 389 (391 published 250 ms after 388–390, stored
// before them). Each frame is packed on the one before, so a frame stored
// ahead of its base waited for redelivery; a chain with several such
// swaps needed one redelivery per swap (2, 4, 8, 16 s) and its last
// frames passed baseGrace and were dropped as base-lost (lost=2..7 in
// roughly one run in three once the forwarder's retries were jittered).
//
// Two things make such swaps cost nothing: a fetched batch is decoded in
// each agent's sequence order (frames stored a few places apart usually
// arrive in one batch), and a frame waiting for its base is redelivered
// after retryFirst, not the doubling retryDelay, while it is younger than
// baseGrace (its base is most likely right behind it in the stream).

// frameMsg is a fetched message and its parsed frame (nil with err).
type frameMsg struct {
	m   jetstream.Msg
	f   *codec.Frame
	err error
}

// inAgentOrder parses msgs and returns them with each agent's frames in
// sequence order, in the slots its frames had: the agents' interleaving
// and the place of unparsable messages stay as fetched.
func inAgentOrder(msgs []jetstream.Msg) []frameMsg {
	out := make([]frameMsg, len(msgs))
	slots := map[string][]int{}
	for i, m := range msgs {
		f, err := codec.ParseFrame(m.Data())
		out[i] = frameMsg{m: m, f: f, err: err}
		if err == nil {
			slots[f.Agent] = append(slots[f.Agent], i)
		}
	}
	for _, idx := range slots {
		if len(idx) < 2 {
			continue
		}
		frames := make([]frameMsg, len(idx))
		for j, i := range idx {
			frames[j] = out[i]
		}
		if slices.IsSortedFunc(frames, bySeq) {
			continue
		}
		slices.SortStableFunc(frames, bySeq)
		for j, i := range idx {
			out[i] = frames[j]
		}
	}
	return out
}

func bySeq(a, b frameMsg) int { return cmp.Compare(a.f.Seq, b.f.Seq) }

// baseWaitDelay is the redelivery delay of m, a frame waiting for its base,
// age after it was stored: retryFirst while it is younger than grace,
// then retryDelay's doubling (its base is late, not just behind it).
func baseWaitDelay(m jetstream.Msg, age, grace time.Duration) time.Duration {
	if age < grace {
		return retryFirst
	}
	return retryDelay(m)
}
