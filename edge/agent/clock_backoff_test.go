package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// TestClockBackoff: checks back off while the offset holds still and drop
// back to check_every when it moves, when the correction switches and
// after a step; a failed check waits a second until the first good one.
func TestClockBackoff(t *testing.T) {
	const ms = time.Millisecond
	b := newClockBackoff(time.Minute, 15*time.Minute, 500*ms)
	type step struct {
		name     string
		do       func() time.Duration
		wantWait time.Duration
	}
	good := func(off time.Duration) func() time.Duration {
		return func() time.Duration { return b.measured(off, false) }
	}
	for _, s := range []step{
		{"failed before the first", func() time.Duration { return b.failed(false) }, time.Second},
		{"first", good(10 * ms), time.Minute},
		{"still", good(20 * ms), 2 * time.Minute},
		{"still", good(-100 * ms), 4 * time.Minute},
		{"still", good(300 * ms), 8 * time.Minute},
		{"still", good(0), 15 * time.Minute},
		{"capped", good(0), 15 * time.Minute},
		{"failed after", func() time.Duration { return b.failed(true) }, time.Minute},
		{"still after a failure", good(0), 15 * time.Minute},
		{"moved", good(600 * ms), time.Minute},
		{"still", good(600 * ms), 2 * time.Minute},
		{"correction switched", func() time.Duration { return b.measured(700*ms, true) }, time.Minute},
		{"still", good(700 * ms), 2 * time.Minute},
		{"stepped", func() time.Duration { b.reset(); return b.measured(700*ms, false) }, time.Minute},
	} {
		if got := s.do(); got != s.wantWait {
			t.Fatalf("%s: wait %v, want %v", s.name, got, s.wantWait)
		}
	}
	if got := newClockBackoff(time.Minute, time.Minute, time.Second); got.measured(0, false) != time.Minute || got.measured(0, false) != time.Minute {
		t.Fatal("max_check_every = check_every must be a fixed interval")
	}
}

// TestClockStepCheckedAtOnce: with the next check an hour away, a step of
// the agent's own clock is seen locally and checked at once, and the
// windows are stamped with the hub's time again within seconds. A check
// on a fast link is one exchange.
func TestClockStepCheckedAtOnce(t *testing.T) {
	ns := startServer(t, -1, t.TempDir())
	defer ns.Shutdown()
	hub, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	var requests atomic.Int64
	if _, err := hub.Subscribe(codec.TimePrefix+">", func(m *nats.Msg) {
		requests.Add(1)
		m.Respond(codec.EncodeTime(time.Now().UnixNano()))
	}); err != nil {
		t.Fatal(err)
	}
	hub.Flush()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	c := newClock(ClockConfig{CheckEvery: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx, nc, codec.TimeSubject("s1", "h1"), slog.New(slog.DiscardHandler)); close(done) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "first check", 10*time.Second, func() error {
		if !c.stats().Measured {
			return errors.New("not measured")
		}
		return nil
	})
	if st := c.stats(); st.Correction != 0 || st.Checks != 1 {
		t.Fatalf("after the first check: %+v, want 1 check and no correction", st)
	}

	c.step.Store(int64(-10 * time.Minute)) // the own clock steps back 10 minutes
	waitUntil(t, "correction after the step", 10*time.Second, func() error {
		if c.stats().Correction == 0 {
			return errors.New("no correction")
		}
		return nil
	})
	st := c.stats()
	if d := (st.Correction - 10*time.Minute).Abs(); d > 500*time.Millisecond {
		t.Fatalf("correction %v, want about 10m", st.Correction)
	}
	if skew := c.now().Sub(time.Now()).Abs(); skew > 500*time.Millisecond {
		t.Fatalf("stamps are %v off the hub's time after the correction", skew)
	}
	if st.Checks != 2 {
		t.Fatalf("%d checks, want 2 (start, step)", st.Checks)
	}
	if n := requests.Load(); n != int64(st.Checks) {
		t.Errorf("%d time requests for %d checks: a check on a fast link should stop after one exchange", n, st.Checks)
	}
}
