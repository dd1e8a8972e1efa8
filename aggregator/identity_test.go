package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestForgedIdentity: on tele.s1.h1, a frame whose Nats-Msg-Id names
// s1/h2, and one claiming host h2, are rejected before decoding (counted
// by reason); the real frames of h1 and h2 are applied.
func TestForgedIdentity(t *testing.T) {
	a, ctx := startAggregator(t)
	_, js := connect(t, a)
	pub := func(subject string, b *codec.Batch, id string) {
		if _, err := js.Publish(ctx, subject, keyframe(b), jetstream.WithMsgID(id)); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	other := func(seq uint64) *codec.Batch {
		b := testBatchOf(seq)
		b.Agent, b.Host = "s1/h2", "h2"
		return b
	}
	pub("tele.s1.h1", testBatchOf(7), "s1/h2/7/0123456789abcdef") // h1 poisoning h2's id
	pub("tele.s1.h1", other(8), "s1/h1/8")                        // h1 claiming to be h2
	pub("tele.s1.h1", testBatchOf(1), codec.SignedMsgID("s1/h1", 1, []byte("k1")))
	pub("tele.s1.h2", other(7), codec.SignedMsgID("s1/h2", 7, []byte("k2")))
	err := harness.WaitFor(ctx, 20*time.Second, func() error {
		st := a.Stats()
		if st.Applied != 2 || st.Rejected[ReasonMsgID] != 1 || st.Rejected[ReasonHostMismatch] != 1 {
			return fmt.Errorf("applied %d rejected %v, want 2 applied, 1 msg_id, 1 host_mismatch", st.Applied, st.Rejected)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTimeService: the aggregators answer an agent's time request with
// their clock.
func TestTimeService(t *testing.T) {
	a, ctx := startAggregator(t)
	nc, _ := connect(t, a)
	before := time.Now()
	m, err := nc.RequestWithContext(ctx, codec.TimeSubject("s1", "h1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.DecodeTime(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if ts := time.Unix(0, got); ts.Before(before) || ts.After(time.Now()) {
		t.Fatalf("hub time %v not between the request and the reply", ts)
	}
}
