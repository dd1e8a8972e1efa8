package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
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
	_, js := connect(t, a)
	// A stream of its own: the batches reach ingest exactly as fetched.
	const subject = "tele.s1.h1.takeover"
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TAKEOVER", Subjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "takeover", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(frames map[uint64][]byte, seqs ...uint64) {
		t.Helper()
		for _, seq := range seqs {
			if _, err := js.Publish(ctx, subject, frames[seq], jetstream.WithMsgID(fmt.Sprint("s1/h1/", seq))); err != nil {
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
	encode := func(enc *codec.Encoder, frames map[uint64][]byte, seqs ...uint64) {
		t.Helper()
		for _, seq := range seqs {
			p, err := enc.Encode(nil, testBatchOf(seq))
			if err != nil {
				t.Fatal(err)
			}
			frames[seq] = p
		}
	}
	frames := map[uint64][]byte{}
	first, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	encode(first, frames, 13, 14, 15)
	retry, err := codec.NewEncoder(codec.DefaultWireOptions()) // 16 is a keyframe
	if err != nil {
		t.Fatal(err)
	}
	encode(retry, frames, 16, 17)

	apply(frames, 13, 14) // the old owner; state 14 saved in Redis
	a.ingest.wire.forget("s1/h1")
	apply(frames, 16, 17) // the new owner, which holds nothing of the agent
	apply(frames, 15)     // back after AckWait
	if st := a.Stats(); st.Applied != 5 || st.BaseWaits != 0 || st.BaseLost != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v: want 13..17 applied, 15 on the state saved after 14", st)
	}
}
