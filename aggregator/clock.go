package aggregator

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

// ClockConfig bounds how far a window's end may be from the time the hub
// stored its frame before the window is counted and logged as skewed (an
// agent whose clock is off: edge boxes without an RTC boot in the past).
// Skewed windows are still stored; the agent half of issue 18 corrects
// its stamps.
type ClockConfig struct {
	// MaxAhead: a window ending more than this after its frame reached
	// the hub was stamped by a clock running ahead. Default 5m, range
	// 1s–24h.
	MaxAhead time.Duration `yaml:"max_ahead"`
	// MaxBehind: a window ending more than this before its frame reached
	// the hub comes from a clock running behind — or from a spool
	// replayed after an uplink cut longer than this, which looks the same
	// from here (the log line says both). Default 1h, range 1m–400 days.
	MaxBehind time.Duration `yaml:"max_behind"`
}

// Skew reasons (edgepulse_aggregator_windows_skewed_total{reason}).
const (
	SkewAhead  = "ahead"
	SkewBehind = "behind"
)

func (c ClockConfig) withDefaults() ClockConfig {
	if c.MaxAhead == 0 {
		c.MaxAhead = 5 * time.Minute
	}
	if c.MaxBehind == 0 {
		c.MaxBehind = time.Hour
	}
	return c
}

// Validate names the first field out of range (zero means the default).
func (c ClockConfig) Validate() error {
	switch {
	case c.MaxAhead != 0 && (c.MaxAhead < time.Second || c.MaxAhead > 24*time.Hour):
		return fmt.Errorf("config: clock.max_ahead %v must be between 1s and 24h (0: default 5m)", c.MaxAhead)
	case c.MaxBehind != 0 && (c.MaxBehind < time.Minute || c.MaxBehind > 400*24*time.Hour):
		return fmt.Errorf("config: clock.max_behind %v must be between 1m and 9600h (0: default 1h)", c.MaxBehind)
	}
	return nil
}

// skewOf returns the skew reason of a window ending at end whose frame
// the hub stored at received ("" within bounds) and the skew (end −
// received).
func (c ClockConfig) skewOf(end, received time.Time) (string, time.Duration) {
	d := end.Sub(received)
	switch {
	case d > c.MaxAhead:
		return SkewAhead, d
	case -d > c.MaxBehind:
		return SkewBehind, d
	}
	return "", d
}

// skewLogEvery bounds the skew log lines per agent.
const skewLogEvery = time.Minute

// clockCheck counts skewed windows and logs them, once per agent per
// skewLogEvery. Safe for concurrent use.
type clockCheck struct {
	cfg           ClockConfig
	log           *slog.Logger
	ahead, behind atomic.Uint64
	mu            sync.Mutex
	logged        map[string]time.Time // by agent
}

func newClockCheck(cfg ClockConfig, log *slog.Logger) *clockCheck {
	return &clockCheck{cfg: cfg.withDefaults(), log: log, logged: map[string]time.Time{}}
}

// check counts b's window when its end is skewed from received.
func (c *clockCheck) check(b *codec.Batch, received time.Time) {
	end := time.UnixMilli(b.Start + b.Width)
	reason, d := c.cfg.skewOf(end, received)
	if reason == "" {
		return
	}
	if reason == SkewAhead {
		c.ahead.Add(1)
	} else {
		c.behind.Add(1)
	}
	now := time.Now()
	c.mu.Lock()
	if t, ok := c.logged[b.Agent]; ok && now.Sub(t) < skewLogEvery {
		c.mu.Unlock()
		return
	}
	c.logged[b.Agent] = now
	if len(c.logged) > 10000 {
		for a, t := range c.logged {
			if now.Sub(t) >= skewLogEvery {
				delete(c.logged, a)
			}
		}
	}
	c.mu.Unlock()
	bound := c.cfg.MaxAhead
	if reason == SkewBehind {
		bound = c.cfg.MaxBehind
	}
	c.log.Warn("window stamped far from the hub's clock (agent clock off, or a spool replayed after a long outage); stored as stamped",
		"agent", b.Agent, "seq", b.Seq, "window_end", end.UTC(), "received", received.UTC(), "skew", d.Round(time.Second), "reason", reason, "bound", bound)
}

// counts returns the skewed windows by reason.
func (c *clockCheck) counts() map[string]uint64 {
	return map[string]uint64{SkewAhead: c.ahead.Load(), SkewBehind: c.behind.Load()}
}
