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
// hub's time (codec.TimeSubject) at start, keeps the offset of the
// exchange with the shortest round trip of up to three (it stops at the
// first whose round trip is under MaxOffset/20: its error, half the round
// trip, is then negligible), and when its clock is more than MaxOffset off
// it stamps samples — and so windows — with its clock plus the measured
// offset, logging it and exposing edgepulse_agent_clock_offset_seconds and
// _correction_seconds.
//
// Each check is a request and a reply over the site's uplink, so checks
// back off while the offset holds still (clock_backoff.go): CheckEvery
// after the start and after any change, doubling to MaxCheckEvery. A step
// of this host's clock (NTP, an operator, a VM resumed) is seen locally,
// by the wall clock parting from the monotonic one, and checked at once.
type ClockConfig struct {
	// CheckEvery is the interval between checks at the start and after
	// the offset moved; default 1m, range 1s–24h. Until the first
	// measurement succeeds it is retried every second.
	CheckEvery time.Duration `yaml:"check_every"`
	// MaxCheckEvery caps the interval the checks back off to while the
	// offset holds still; default 15m, range check_every–24h. Set it to
	// check_every for a fixed interval.
	MaxCheckEvery time.Duration `yaml:"max_check_every"`
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
	if c.MaxCheckEvery == 0 {
		c.MaxCheckEvery = max(15*time.Minute, c.CheckEvery)
	}
	return c
}

// Validate names the first field out of range.
func (c ClockConfig) Validate() error {
	switch {
	case c.CheckEvery != 0 && (c.CheckEvery < time.Second || c.CheckEvery > 24*time.Hour):
		return fmt.Errorf("config: clock.check_every %v must be between 1s and 24h", c.CheckEvery)
	case c.MaxCheckEvery != 0 && (c.MaxCheckEvery < c.withDefaults().CheckEvery || c.MaxCheckEvery > 24*time.Hour):
		return fmt.Errorf("config: clock.max_check_every %v must be between clock.check_every (%v) and 24h", c.MaxCheckEvery, c.withDefaults().CheckEvery)
	case c.MaxOffset != 0 && (c.MaxOffset < 10*time.Millisecond || c.MaxOffset > time.Hour):
		return fmt.Errorf("config: clock.max_offset %v must be between 10ms and 1h", c.MaxOffset)
	}
	return nil
}

// clock is the agent's time: the system clock plus TestOffset plus the
// correction in force. Safe for concurrent use.
type clock struct {
	cfg        ClockConfig
	step       atomic.Int64 // ns added to the own clock: a step of it, for tests
	offset     atomic.Int64 // hub − own clock (ns), last measured
	correction atomic.Int64 // ns added to the own clock
	measured   atomic.Bool
	checks     atomic.Uint64
	failures   atomic.Uint64
}

func newClock(cfg ClockConfig) *clock { return &clock{cfg: cfg.withDefaults()} }

// own is the system clock with the test offset: the clock being checked.
func (c *clock) own() time.Time {
	return time.Now().Add(c.cfg.TestOffset + time.Duration(c.step.Load()))
}

// now is the time the agent stamps samples with.
func (c *clock) now() time.Time { return c.own().Add(time.Duration(c.correction.Load())) }

// exchanges per measurement at most; the one with the shortest round trip
// counts. A measurement stops at the first exchange whose round trip is
// under MaxOffset/clockGoodRTT: the offset is then known within
// MaxOffset/40, and a second exchange would only cost uplink bytes.
const (
	clockExchanges = 3
	clockGoodRTT   = 20
)

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
				if d <= c.cfg.MaxOffset/clockGoodRTT {
					break
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

// run measures the offset until ctx is done and sets the correction. The
// interval backs off while the offset holds still (clockBackoff); every
// jumpPoll the own clock is compared with the monotonic one, and a step
// checks at once.
func (c *clock) run(ctx context.Context, nc *nats.Conn, subject string, log *slog.Logger) {
	correct := c.cfg.Correct == nil || *c.cfg.Correct
	sched := newClockBackoff(c.cfg.CheckEvery, c.cfg.MaxCheckEvery, c.cfg.MaxOffset/4)
	poll := time.NewTicker(jumpPoll)
	defer poll.Stop()
	for {
		off, rtt, err := c.measure(ctx, nc, subject)
		c.checks.Add(1)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.failures.Add(1)
			log.Debug("clock check failed (no aggregator answered)", "subject", subject, "err", err)
			wait = sched.failed(c.measured.Load())
		default:
			c.measured.Store(true)
			c.offset.Store(int64(off))
			was := c.correction.Load()
			c.adjust(off, rtt, correct, log)
			wait = sched.measured(off, (was == 0) != (c.correction.Load() == 0)) // correction turned on or off
		}
		mark := c.mark()
		due := time.Now().Add(wait)
	sleep:
		for {
			select {
			case <-ctx.Done():
				return
			case <-poll.C:
				if j := c.jumped(mark); j != 0 {
					log.Info("agent clock stepped; checking it against the hub's now", "step", j.Round(time.Millisecond))
					sched.reset()
					break sleep
				}
				if !time.Now().Before(due) {
					break sleep
				}
			}
		}
	}
}

// jumpPoll is how often run looks for a step of the own clock: a local
// reading, nothing on the wire.
const jumpPoll = time.Second

// clockMark is the own clock (wall reading) and the monotonic clock at one
// instant.
type clockMark struct{ wall, mono time.Time }

func (c *clock) mark() clockMark { return clockMark{wall: c.own().Round(0), mono: time.Now()} }

// jumped returns how far the own clock stepped since m (the wall time
// elapsed minus the monotonic time elapsed), 0 when less than
// MaxOffset/4.
func (c *clock) jumped(m clockMark) time.Duration {
	d := c.own().Round(0).Sub(m.wall) - time.Since(m.mono)
	if d.Abs() < c.cfg.MaxOffset/4 {
		return 0
	}
	return d
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
