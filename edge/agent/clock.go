package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/codec"
)

// ClockConfig is clock sanity (issue 18): edge boxes without an RTC boot
// in the past, and a host whose windows are stamped far off vanishes from
// "now" dashboards and alerts. The agent asks the aggregators for the
// hub's time (codec.TimeSubject) at start and every CheckEvery, keeps the
// offset of the exchange with the shortest round trip of a few, and when
// its clock is more than MaxOffset off it stamps samples — and so windows
// — with its clock plus the measured offset, logging it and exposing
// edgepulse_agent_clock_offset_seconds and _correction_seconds.
type ClockConfig struct {
	// CheckEvery is how often the offset is measured; default 1m, range
	// 1s–24h. Until the first measurement succeeds it is retried every
	// second.
	CheckEvery time.Duration `yaml:"check_every"`
	// MaxOffset: a clock more than this off the hub's is corrected;
	// default 2s, range 10ms–1h. The correction stops once the clock is
	// within MaxOffset/2 (NTP caught up).
	MaxOffset time.Duration `yaml:"max_offset"`
	// Correct turns the correction on (default); off, the offset is only
	// measured, exposed and logged.
	Correct *bool `yaml:"correct"`
	// TestOffset shifts this agent's own clock by a fixed amount: for
	// tests of a broken clock only (testbench/chaos clock_skew).
	TestOffset time.Duration `yaml:"test_offset"`
}

func (c ClockConfig) withDefaults() ClockConfig {
	if c.CheckEvery == 0 {
		c.CheckEvery = time.Minute
	}
	if c.MaxOffset == 0 {
		c.MaxOffset = 2 * time.Second
	}
	return c
}

// Validate names the first field out of range.
func (c ClockConfig) Validate() error {
	switch {
	case c.CheckEvery != 0 && (c.CheckEvery < time.Second || c.CheckEvery > 24*time.Hour):
		return fmt.Errorf("config: clock.check_every %v must be between 1s and 24h", c.CheckEvery)
	case c.MaxOffset != 0 && (c.MaxOffset < 10*time.Millisecond || c.MaxOffset > time.Hour):
		return fmt.Errorf("config: clock.max_offset %v must be between 10ms and 1h", c.MaxOffset)
	}
	return nil
}

// clock is the agent's time: the system clock plus TestOffset plus the
// correction in force. Safe for concurrent use.
type clock struct {
	cfg        ClockConfig
	offset     atomic.Int64 // hub − own clock (ns), last measured
	correction atomic.Int64 // ns added to the own clock
	measured   atomic.Bool
	checks     atomic.Uint64
	failures   atomic.Uint64
}

func newClock(cfg ClockConfig) *clock { return &clock{cfg: cfg.withDefaults()} }

// own is the system clock with the test offset: the clock being checked.
func (c *clock) own() time.Time { return time.Now().Add(c.cfg.TestOffset) }

// now is the time the agent stamps samples with.
func (c *clock) now() time.Time { return c.own().Add(time.Duration(c.correction.Load())) }

// exchanges per measurement; the one with the shortest round trip counts.
const clockExchanges = 3

// measure asks the hub's time and returns hub − own (ns) and the round trip.
func (c *clock) measure(ctx context.Context, nc *nats.Conn, subject string) (time.Duration, time.Duration, error) {
	var best, rtt time.Duration = 0, -1
	var lastErr error
	for range clockExchanges {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		t0 := c.own()
		m, err := nc.RequestWithContext(rctx, subject, nil)
		t2 := c.own()
		cancel()
		if err == nil {
			var hub int64
			if hub, err = codec.DecodeTime(m.Data); err == nil {
				d := t2.Sub(t0)
				off := time.Unix(0, hub).Sub(t0.Add(d / 2))
				if rtt < 0 || d < rtt {
					best, rtt = off, d
				}
				continue
			}
		}
		lastErr = err
	}
	if rtt < 0 {
		return 0, 0, lastErr
	}
	return best, rtt, nil
}

// run measures the offset until ctx is done and sets the correction.
func (c *clock) run(ctx context.Context, nc *nats.Conn, subject string, log *slog.Logger) {
	correct := c.cfg.Correct == nil || *c.cfg.Correct
	for {
		off, rtt, err := c.measure(ctx, nc, subject)
		c.checks.Add(1)
		wait := c.cfg.CheckEvery
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.failures.Add(1)
			log.Debug("clock check failed (no aggregator answered)", "subject", subject, "err", err)
			if !c.measured.Load() {
				wait = time.Second
			}
		default:
			c.measured.Store(true)
			c.offset.Store(int64(off))
			c.adjust(off, rtt, correct, log)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// adjust sets the correction from a measured offset.
func (c *clock) adjust(off, rtt time.Duration, correct bool, log *slog.Logger) {
	abs := off.Abs()
	was := time.Duration(c.correction.Load())
	switch {
	case abs > c.cfg.MaxOffset:
		if !correct {
			log.Warn("agent clock is off the hub's; windows are stamped with it (clock.correct is off)",
				"offset", off.Round(time.Millisecond), "max_offset", c.cfg.MaxOffset, "rtt", rtt.Round(time.Microsecond))
			return
		}
		c.correction.Store(int64(off))
		if (off - was).Abs() > c.cfg.MaxOffset/2 {
			log.Warn("agent clock is off the hub's: stamping windows with the hub's time (own clock plus the offset); samples stamped before may count as late",
				"offset", off.Round(time.Millisecond), "max_offset", c.cfg.MaxOffset, "rtt", rtt.Round(time.Microsecond))
		}
	case was != 0 && abs < c.cfg.MaxOffset/2:
		c.correction.Store(0)
		log.Info("agent clock is back within clock.max_offset/2 of the hub's: correction off", "offset", off.Round(time.Millisecond))
	case was != 0:
		c.correction.Store(int64(off)) // still correcting: follow the drift
	}
}

// ClockStats are the clock check's numbers.
type ClockStats struct {
	Offset     time.Duration // hub − own clock, last measured (0 before)
	Correction time.Duration // added to the own clock now
	Measured   bool
	Checks     uint64
	Failures   uint64
}

func (c *clock) stats() ClockStats {
	return ClockStats{Offset: time.Duration(c.offset.Load()), Correction: time.Duration(c.correction.Load()),
		Measured: c.measured.Load(), Checks: c.checks.Load(), Failures: c.failures.Load()}
}

// serveClockMetrics writes the clock's metrics.
func (a *Agent) serveClockMetrics(metric func(name, typ, help string, v float64)) {
	st := a.clk.stats()
	metric("edgepulse_agent_clock_offset_seconds", "gauge", "The hub's clock minus this agent's, last measured (0 before the first).", st.Offset.Seconds())
	metric("edgepulse_agent_clock_correction_seconds", "gauge", "Added to this agent's clock to stamp samples (non-zero: the clock is more than clock.max_offset off).", st.Correction.Seconds())
	metric("edgepulse_agent_clock_checks_total", "counter", "Clock offset measurements tried.", float64(st.Checks))
	metric("edgepulse_agent_clock_check_failures_total", "counter", "Clock offset measurements no aggregator answered.", float64(st.Failures))
}
