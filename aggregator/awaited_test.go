package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestBaseKeptWhileAwaited replays what make faults scenario B lost: an
// agent's round straddled the uplink's return, so frames 2..6 (packed
// 2 on 1, 3 on 2, ...) were stored while 1 was refused; the retry
// resent 1 as a keyframe and packed the spool's backlog 7..16 on it, all
// stored at once behind 2..6. 2..6 wait for redelivery (2 s and more)
// while 1 and 7..16 are applied, more than keptStates states: the state
// after 1 must still be there when 2 comes back, and the one after 2
// when 3 does, and so on. Before states awaited by waiting frames were
// kept, 1's state was evicted and 2..6 were dropped as base-lost.
func TestBaseKeptWhileAwaited(t *testing.T) {
	a, ctx := startAggregator(t)
	a.ingest.baseGrace.Store(int64(3 * time.Second))
	_, js := connect(t, a)
	encode := func(enc *codec.Encoder, seq uint64) []byte {
		t.Helper()
		p, err := enc.Encode(nil, testBatchOf(seq))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	pub := func(seq uint64, p []byte) {
		t.Helper()
		if _, err := js.Publish(ctx, "tele.s1.h1", p, jetstream.WithMsgID(fmt.Sprint("s1/h1/", seq))); err != nil {
			t.Fatal(err)
		}
	}
	first, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	encode(first, 1) // sent, refused: never stored
	for seq := uint64(2); seq <= 6; seq++ {
		pub(seq, encode(first, seq))
	}
	err = harness.WaitFor(ctx, 10*time.Second, func() error {
		if st := a.Stats(); st.BaseWaits < 5 {
			return fmt.Errorf("stats %+v, want frames 2..6 waiting", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	pub(1, encode(retry, 1)) // a keyframe now
	for seq := uint64(7); seq <= 16; seq++ {
		pub(seq, encode(retry, seq))
	}
	err = harness.WaitFor(ctx, 30*time.Second, func() error {
		st := a.Stats()
		if st.BaseLost != 0 {
			return nil // reported below
		}
		if st.Applied != 16 {
			return fmt.Errorf("stats %+v, want 16 applied", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.BaseLost != 0 || st.DecodeErrors != 0 || st.Applied != 16 {
		t.Fatalf("stats %+v, want 16 applied, nothing lost (base_lost %d)", st, st.BaseLost)
	}
}
