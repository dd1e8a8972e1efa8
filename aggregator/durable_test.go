package aggregator

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestRollbackReplays: with Redis saving (save 60 1), the frames applied
// after its last snapshot keep their acks held; Redis killed (-9) and
// restarted on that snapshot is fenced until they are handed back, and
// redelivered they are written again: every window is stored once.
func TestRollbackReplays(t *testing.T) {
	a, ctx, r := startAggregatorRedis(t)
	_, js := connect(t, a)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	if err := rdb.ConfigSet(ctx, "save", "60 1").Err(); err != nil {
		t.Fatal(err)
	}
	a.durable.settle(ctx)
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	pub := func(seq uint64) {
		t.Helper()
		p, err := enc.Encode(nil, testBatchOf(seq))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "tele.s1.h1", p, jetstream.WithMsgID(fmt.Sprint("s1/h1/", seq))); err != nil {
			t.Fatal(err)
		}
	}
	waitStats := func(what string, cond func(Stats) bool) {
		t.Helper()
		if err := harness.WaitFor(ctx, 30*time.Second, func() error {
			if st := a.Stats(); !cond(st) {
				return fmt.Errorf("stats %+v, want %s", st, what)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	pub(1)
	pub(2)
	waitStats("2 applied", func(st Stats) bool { return st.Applied == 2 })
	time.Sleep(2100 * time.Millisecond) // the snapshot must begin a whole second after the writes (INFO has seconds)
	if err := rdb.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitStats("1 and 2 acknowledged once the snapshot has them", func(st Stats) bool { return st.HeldAcks == 0 })
	pub(3)
	pub(4)
	waitStats("3 and 4 applied, their acks held", func(st Stats) bool { return st.Applied == 4 && st.HeldAcks == 2 })
	r.Kill()
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	pub(5)
	waitStats("3 and 4 replayed, 5 applied", func(st Stats) bool {
		return st.RedisRestarts == 1 && st.Replayed == 2 && st.Applied == 7 && st.BaseLost == 0
	})
	// Every window is in Redis once.
	seqs, err := rdb.ZRange(ctx, "ep:ws:{s1/h1}", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 5 {
		t.Fatalf("applied sequences in redis %v, want 1–5", seqs)
	}
}
