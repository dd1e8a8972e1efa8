package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// TestSwappedFramesInOneBatch hands ingest one fetched batch holding an
// agent's delta chain with neighbours swapped (1, 3, 2, 5, 4, …), as the
// stream stored them in make faults scenario A: every frame is applied
// in that one pass, none is put back to wait for its base. Before
// handleBatch ordered each agent's frames, every swapped frame waited
// for a redelivery (BaseWaits 5 here), and chains of swaps ran past
// baseGrace and were dropped.
func TestSwappedFramesInOneBatch(t *testing.T) {
	a, ctx := startAggregator(t)
	_, js := connect(t, a)
	// A stream of its own: the aggregator's partition consumers do not see
	// it, so the batch reaches ingest exactly as fetched here.
	const subject = "tele.s1.h1.swapped"
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SWAPPED", Subjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	const n = 12
	frames := map[uint64][]byte{}
	for seq := uint64(1); seq <= n; seq++ {
		if frames[seq], err = enc.Encode(nil, testBatchOf(seq)); err != nil {
			t.Fatal(err)
		}
	}
	order := []uint64{1, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12}
	for _, seq := range order {
		if _, err := js.Publish(ctx, subject, frames[seq], jetstream.WithMsgID(fmt.Sprint("s1/h1/", seq))); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "swapped", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != n {
		t.Fatalf("fetched %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		f, err := codec.ParseFrame(m.Data())
		if err != nil || f.Seq != order[i] {
			t.Fatalf("fetched message %d: seq %v (%v), want %d: the batch is not the swapped one", i, f, err, order[i])
		}
	}
	a.ingest.handleBatch(ctx, msgs)
	if st := a.Stats(); st.Applied != n || st.BaseWaits != 0 || st.BaseLost != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v: want %d applied in one pass, no base waits", st, n)
	}
}
