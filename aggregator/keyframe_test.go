package aggregator

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestKeyframeOnStaleState: Redis is killed (-9) and restarts on an
// older snapshot, so the decoder state saved there is older than the
// frames in flight.
//
//   - A member that kept its states goes on decoding at once: nothing waits.
//   - A member that lost them (restarted: forget) finds the saved state
//     older than the next frame's base and asks the agent for a keyframe
//     at once — not after a 5-minute wait — and applies the keyframe and
//     the frames after it; the frame before the keyframe is dropped and
//     counted once the chain moved past it.
func TestKeyframeOnStaleState(t *testing.T) {
	a, ctx, r := startAggregatorRedis(t)
	a.ingest.baseGrace.Store(int64(time.Second))
	nc, js := connect(t, a)
	// The agent: a delta encoder that starts over with a keyframe when
	// asked, as edge/forward does.
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var askedAt []time.Time
	if _, err := nc.Subscribe(codec.AgentSubject("s1", "h1", codec.EndpointKeyframe), func(*nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		askedAt = append(askedAt, time.Now())
		enc.Reset()
	}); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	pub := func(seq uint64) {
		t.Helper()
		mu.Lock()
		p, err := enc.Encode(nil, testBatchOf(seq))
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "tele.s1.h1", p, jetstream.WithMsgID(fmt.Sprint("s1/h1/", seq))); err != nil {
			t.Fatal(err)
		}
	}
	waitStats := func(what string, cond func(Stats) bool) {
		t.Helper()
		if err := harness.WaitFor(ctx, 20*time.Second, func() error {
			if st := a.Stats(); !cond(st) {
				return fmt.Errorf("stats %+v, want %s", st, what)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	rollback := func() {
		t.Helper()
		r.Kill()
		if err := r.Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}

	pub(1)
	waitStats("1 applied", func(st Stats) bool { return st.Applied == 1 })
	if err := rdb.Save(ctx).Err(); err != nil { // the snapshot Redis will restart on
		t.Fatal(err)
	}
	pub(2)
	pub(3)
	waitStats("3 applied", func(st Stats) bool { return st.Applied == 3 })

	// Kept states: frame 4 applies on the state in memory.
	rollback()
	pub(4)
	waitStats("4 applied", func(st Stats) bool { return st.Applied == 4 })
	if st := a.Stats(); st.BaseWaits != 0 || st.KeyframesAsked != 0 {
		t.Fatalf("stats %+v: a member that kept its states waited for a base or asked a keyframe", st)
	}

	// Lost states: the saved one (after frame 1) is older than frame 5's base.
	rollback()
	a.ingest.wire.forget("s1/h1")
	sent := time.Now()
	pub(5)
	waitStats("a keyframe asked", func(st Stats) bool { return st.KeyframesAsked == 1 })
	mu.Lock()
	if len(askedAt) != 1 || askedAt[0].Sub(sent) > 5*time.Second {
		t.Fatalf("keyframe asked at %v, %v after the frame; want at once", askedAt, askedAt[0].Sub(sent))
	}
	t.Logf("keyframe asked %v after the stale frame was published", askedAt[0].Sub(sent).Round(time.Millisecond))
	mu.Unlock()
	pub(6) // the keyframe
	pub(7) // packed against it
	waitStats("6 and 7 applied, 5 dropped", func(st Stats) bool { return st.Applied == 6 && st.BaseLost == 1 })
	if st := a.Stats(); st.DecodeErrors != 0 || st.KeyframesAsked != 1 {
		t.Fatalf("stats %+v, want no decode errors and one keyframe asked", st)
	}
}

// TestRetryBackoff: redeliveries double from retryFirst up to retryMax.
func TestRetryBackoff(t *testing.T) {
	for _, tt := range []struct {
		n    uint64
		want time.Duration
	}{{0, retryFirst}, {1, 2 * time.Second}, {2, 4 * time.Second}, {3, 8 * time.Second}, {4, 16 * time.Second}, {50, retryMax}, {1 << 40, retryMax}} {
		if got := backoff(tt.n); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}
