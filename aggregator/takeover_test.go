package aggregator

import (
	"testing"
)

// TestTakeoverKeepsSavedBase replays what make failover lost (frames
// logged per member): the old owner applied 13 and 14 (state 14 saved in
// Redis) and had fetched 15 when it was killed; the publisher's next
// frames were a keyframe 16 and 17 on it, which the new owner applied and
// saved before 15 came back after AckWait. 15 must decode on the state
// the old owner saved; before the new owner kept that state it waited for
// 14 until it was dropped as base-lost.
func TestTakeoverKeepsSavedBase(t *testing.T) {
	a, ctx := startAggregator(t)
	feed := newFrameFeed(t, ctx, a, "TAKEOVER")
	frames := map[uint64][]byte{}
	encodeChain(t, frames, 13, 14, 15)
	encodeChain(t, frames, 16, 17) // the publisher's retry: 16 is a keyframe
	apply := feed.apply

	apply(frames, 13, 14) // the old owner; state 14 saved in Redis
	a.ingest.wire.forget("s1/h1")
	apply(frames, 16, 17) // the new owner, which holds nothing of the agent
	apply(frames, 15)     // back after AckWait
	if st := a.Stats(); st.Applied != 5 || st.BaseWaits != 0 || st.BaseLost != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v: want 13..17 applied, 15 on the state saved after 14", st)
	}
}
