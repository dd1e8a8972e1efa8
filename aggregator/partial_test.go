package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
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
	_, js := connect(t, a)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	const subject = "tele.s1.h1.partial"
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PARTIAL", Subjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "partial", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	frames := map[uint64][]byte{}
	for seq := uint64(1); seq <= 7; seq++ {
		if frames[seq], err = enc.Encode(nil, testBatchOf(seq)); err != nil {
			t.Fatal(err)
		}
	}
	apply := func(seqs ...uint64) {
		t.Helper()
		for _, seq := range seqs {
			// Redeliveries are new messages here: the consumer sees them as fetched.
			if _, err := js.Publish(ctx, subject, frames[seq], jetstream.WithMsgID(fmt.Sprint("s1/h1/", seq, "/", time.Now().UnixNano()))); err != nil {
				t.Fatal(err)
			}
		}
		batch, err := c.Fetch(len(seqs), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) != len(seqs) {
			t.Fatalf("fetched %d messages, want %d", len(msgs), len(seqs))
		}
		a.ingest.handleBatch(ctx, msgs)
	}
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
