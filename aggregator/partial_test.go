package aggregator

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestTakeoverAfterPartialWrite replays a member killed in the middle of
// a pipelined write: the scripts of frames 3 and 4 ran (their windows are
// stored and recorded applied) but not that of 5, which carried the
// agent's decoder state, so Redis still holds the state after 2. The new
// owner gets 3, 4, 5 back after AckWait with 6 behind them. 3 and 4 are
// duplicates, but 5 is packed on 4: the new owner must rebuild the state
// after 4 from the saved one rather than wait for a base that will never
// be applied again (make failover lost 5, 6, … once the agent's next
// keyframe moved the chain on and they passed baseGrace).
func TestTakeoverAfterPartialWrite(t *testing.T) {
	t.Run("redelivered first", func(t *testing.T) { partialWrite(t, false) })
	// The publisher's retry keyframe 8 is applied first: the state loaded
	// for it (after 2) is kept (keepSaved); 3 and 4 decoded on it must be
	// found applied, not written again as if new (their scripts would do
	// nothing and save no state).
	t.Run("keyframe first", func(t *testing.T) { partialWrite(t, true) })
}

func partialWrite(t *testing.T, keyframeFirst bool) {
	a, ctx, r := startAggregatorRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	feed := newFrameFeed(t, ctx, a, "PARTIAL")
	feed.redeliveries = true // the new owner gets 3, 4, 5 again
	frames := map[uint64][]byte{}
	encodeChain(t, frames, 1, 2, 3, 4, 5, 6, 7)
	apply := func(seqs ...uint64) { feed.apply(frames, seqs...) }
	stateKeys := []string{"ep:w:{s1/h1}", "ep:wf:{s1/h1}"}
	apply(1, 2)
	saved := map[string][]byte{}
	for _, k := range stateKeys {
		if p, err := rdb.Get(ctx, k).Bytes(); err == nil {
			saved[k] = p
		}
	}
	if len(saved) == 0 {
		t.Fatal("no decoder state saved after 1, 2")
	}
	// The old owner's write of 3, 4, 5: only the scripts of 3 and 4 ran.
	apply(3, 4)
	for _, k := range stateKeys {
		var err error
		if p, ok := saved[k]; ok {
			err = rdb.Set(ctx, k, p, 0).Err()
		} else {
			err = rdb.Del(ctx, k).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	a.ingest.wire.forget("s1/h1") // the new owner holds nothing of the agent

	applied := uint64(6)
	if keyframeFirst {
		frames[8] = keyframe(testBatchOf(8))
		apply(8)
		applied++
	}
	apply(3, 4, 5, 6) // back after AckWait, and the next frame
	if st := a.Stats(); st.Applied != applied || st.Duplicates != 2 || st.BaseWaits != 0 || st.BaseLost != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v: want 3, 4 duplicates and 5, 6 applied on the state rebuilt after 4", st)
	}
	if keyframeFirst {
		return // the saved state is 8's
	}
	// What the new owner saved carries the chain on for the next one.
	a.ingest.wire.forget("s1/h1")
	apply(7)
	if st := a.Stats(); st.Applied != 7 || st.BaseWaits != 0 {
		t.Fatalf("stats %+v: want 7 applied on the state saved after 6", st)
	}
}
