package agent

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// answerTime answers time requests with this host's clock, as the
// aggregators do (aggregator/timesvc.go).
func answerTime(t *testing.T, url string) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.Subscribe(codec.TimePrefix+">", func(m *nats.Msg) { m.Respond(codec.EncodeTime(time.Now().UnixNano())) }); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
}

// TestClockCorrects: an agent whose clock is 10 minutes ahead (or 2 years
// behind) measures the offset and stamps with the hub's time; with
// correct off it only measures.
func TestClockCorrects(t *testing.T) {
	ns := startServer(t, -1, t.TempDir())
	defer ns.Shutdown()
	answerTime(t, ns.ClientURL())
	off := false
	for _, tc := range []struct {
		name    string
		cfg     ClockConfig
		correct bool
	}{
		{"ahead 10m", ClockConfig{TestOffset: 10 * time.Minute}, true},
		{"behind 2y", ClockConfig{TestOffset: -2 * 365 * 24 * time.Hour}, true},
		{"within max_offset", ClockConfig{TestOffset: time.Second}, false},
		{"correct off", ClockConfig{TestOffset: 10 * time.Minute, Correct: &off}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := nats.Connect(ns.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c := newClock(tc.cfg)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { c.run(ctx, nc, codec.TimeSubject("s1", "h1"), slog.New(slog.DiscardHandler)); close(done) }()
			deadline := time.Now().Add(10 * time.Second)
			for !c.measured.Load() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			<-done
			st := c.stats()
			if !st.Measured {
				t.Fatal("never measured")
			}
			if d := (st.Offset + tc.cfg.TestOffset).Abs(); d > 500*time.Millisecond {
				t.Fatalf("offset %v, want about %v", st.Offset, -tc.cfg.TestOffset)
			}
			skew := c.now().Sub(time.Now()).Abs()
			switch {
			case tc.correct && skew > 500*time.Millisecond:
				t.Fatalf("corrected clock is %v off", skew)
			case !tc.correct && st.Correction != 0:
				t.Fatalf("correction %v, want none", st.Correction)
			}
		})
	}
}

// TestClockValidate names the field out of range.
func TestClockValidate(t *testing.T) {
	if err := (ClockConfig{MaxOffset: time.Millisecond}).Validate(); err == nil {
		t.Fatal("max_offset 1ms accepted")
	}
	if err := (ClockConfig{CheckEvery: 48 * time.Hour}).Validate(); err == nil {
		t.Fatal("check_every 48h accepted")
	}
	if err := (ClockConfig{CheckEvery: 5 * time.Minute, MaxCheckEvery: time.Minute}).Validate(); err == nil {
		t.Fatal("max_check_every below check_every accepted")
	}
	if err := (ClockConfig{MaxCheckEvery: 30 * time.Second}).Validate(); err == nil {
		t.Fatal("max_check_every below the default check_every accepted")
	}
	if err := (ClockConfig{CheckEvery: time.Minute, MaxCheckEvery: time.Minute}).Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (ClockConfig{}).Validate(); err != nil {
		t.Fatal(err)
	}
}
