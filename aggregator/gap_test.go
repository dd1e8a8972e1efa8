package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
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
	_, js := connect(t, a)
	const subject = "tele.s1.h1.gap"
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "GAP", Subjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "gap", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	frames := map[uint64][]byte{}
	encode := func(seqs ...uint64) {
		t.Helper()
		enc, err := codec.NewEncoder(codec.DefaultWireOptions()) // the first frame is a keyframe
		if err != nil {
			t.Fatal(err)
		}
		for _, seq := range seqs {
			if frames[seq], err = enc.Encode(nil, testBatchOf(seq)); err != nil {
				t.Fatal(err)
			}
		}
	}
	encode(13, 14, 15)
	encode(17, 18, 19, 20, 21, 22, 23)
	apply := func(seqs ...uint64) {
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
	apply(13, 14)
	for seq := uint64(17); seq <= 23; seq++ {
		apply(seq) // one write each: states evicted past keptStates
	}
	apply(15)
	if st := a.Stats(); st.Applied != 10 || st.BaseWaits != 0 || st.BaseLost != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v: want 13..15 and 17..23 applied, 15 on the state after 14", st)
	}
}
