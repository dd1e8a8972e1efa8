package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// TestBaseWaitOutlastsTakeover: a delta whose base is missing, older than
// baseGrace, of an agent whose chain moved past it, is not dropped while
// its partition was taken here less than AckWait + baseGrace ago (the
// old owner's fetched frames, its base among them, come back only after
// AckWait); once that has passed, it is dropped and counted as before.
// Before takeovers were tracked it was dropped at its first delivery.
func TestBaseWaitOutlastsTakeover(t *testing.T) {
	a, ctx := startAggregator(t)
	a.ingest.baseGrace.Store(int64(time.Millisecond))
	_, js := connect(t, a)
	// A stream of its own on partition 7's subject: the batches reach
	// ingest exactly as fetched here.
	const subject = "tele.s1.h1.7"
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TAKEOVER", Subjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "takeover", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	pubFetch := func(seq uint64, frame []byte) {
		t.Helper()
		if frame != nil {
			if _, err := js.Publish(ctx, subject, frame, jetstream.WithMsgID(fmt.Sprint("s1/h1/", seq))); err != nil {
				t.Fatal(err)
			}
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if len(msgs) != 1 {
			t.Fatalf("fetched %d messages for seq %d, want 1", len(msgs), seq)
		}
		a.ingest.handleBatch(ctx, msgs)
	}
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	var delta3 []byte
	for seq := uint64(1); seq <= 3; seq++ { // 1 and 2 never reach this member
		if delta3, err = enc.Encode(nil, testBatchOf(seq)); err != nil {
			t.Fatal(err)
		}
	}
	a.ingest.takeovers.took(7)
	pubFetch(5, keyframe(testBatchOf(5))) // the chain moved past 3
	pubFetch(3, delta3)
	if st := a.Stats(); st.Applied != 1 || st.BaseWaits != 1 || st.BaseLost != 0 {
		t.Fatalf("stats %+v: want 5 applied and 3 waiting for its base (partition just taken)", st)
	}
	a.ingest.takeovers.mu.Lock()
	a.ingest.takeovers.at[7] = time.Now().Add(-time.Duration(a.ingest.takeovers.ackWait.Load()) - time.Second)
	a.ingest.takeovers.mu.Unlock()
	pubFetch(3, nil) // its redelivery
	if st := a.Stats(); st.Applied != 1 || st.BaseLost != 1 {
		t.Fatalf("stats %+v: want 3 dropped as base-lost once the takeover settled", st)
	}
}

func TestTakeoverSettled(t *testing.T) {
	tk := newTakeovers(10 * time.Second)
	if !tk.settled("tele.s1.h1.7", time.Second) {
		t.Error("a partition not started through took counts as settled")
	}
	tk.took(7)
	if tk.settled("tele.s1.h1.7", time.Second) {
		t.Error("settled right after took")
	}
	if !tk.settled("tele.s1.h1.8", time.Second) || !tk.settled("tele.s1.h1.x", time.Second) {
		t.Error("other or unparsable partitions count as settled")
	}
}
