package aggregator

import (
	"testing"
)

// TestGapKeepsBase replays what make failover lost on a partition whose
// owner lived (run of 2026-12-07 02:14, lost=5, base_applied=true): the
// member applied 13 and 14; 15, packed on 14, was stored but its delivery
// was lost with the killed member leading the partition's consumer; the
// publisher, whose publish of 15 had timed out, sent a keyframe 17 and
// the frames after it, which the member applied (more than keptStates)
// before 15 came back after AckWait. 15 must still decode on 14.
func TestGapKeepsBase(t *testing.T) {
	a, ctx := startAggregator(t)
	feed := newFrameFeed(t, ctx, a, "GAP")
	frames := map[uint64][]byte{}
	encodeChain(t, frames, 13, 14, 15)
	encodeChain(t, frames, 17, 18, 19, 20, 21, 22, 23)
	apply := func(seqs ...uint64) { feed.apply(frames, seqs...) }
	apply(13, 14)
	for seq := uint64(17); seq <= 23; seq++ {
		apply(seq) // one write each: states evicted past keptStates
	}
	apply(15)
	if st := a.Stats(); st.Applied != 10 || st.BaseWaits != 0 || st.BaseLost != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v: want 13..15 and 17..23 applied, 15 on the state after 14", st)
	}
}
