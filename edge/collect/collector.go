package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync/atomic"
	"time"
)

// ErrNoData means a source is absent on this host (no /proc/pressure on an
// old kernel, no hwmon chips in a VM). It is logged at debug level, not
// counted as a failure.
var ErrNoData = errors.New("collect: no data")

// A Collector reads one source and reports through e. Collect is called by
// one goroutine at a time.
type Collector interface {
	// Name is the source's short name (stat, meminfo, …), used in logs and
	// in the failure counter's label.
	Name() string
	Collect(e *Emitter) error
}

// Set runs collectors and counts their failures.
type Set struct {
	collectors []Collector
	log        *slog.Logger
	failures   []atomic.Uint64
	durations  []runTime
	period     int64 // Unix ms of the current duration period

	root        string // procfs root checked before each cycle ("" = none)
	rootMissing atomic.Uint64
}

// runTime is one collector's reported run time: the mean over the last
// duration period, kept while the new mean stays within durationSlack of
// it, and rounded to durationBits significant bits (exponent and a few
// mantissa bits: a change XORs into two bytes), so the series is a
// constant for minutes at a time and costs the uplink almost nothing (25
// noisy run times were a quarter of a host's frame).
type runTime struct {
	sum      time.Duration
	n        int
	reported float64
}

const (
	durationPeriodMs = 60_000 // the mean is taken over wall-clock minutes (window boundaries)
	durationSlack    = 0.25   // the reported value moves when the mean moved more than this, relative
	durationBits     = 3      // significant bits kept: rounding within 1/2^durationBits (12.5 %)
)

// NewSet returns a Set running cs in order.
func NewSet(log *slog.Logger, cs ...Collector) *Set {
	return &Set{collectors: cs, log: log, failures: make([]atomic.Uint64, len(cs)), durations: make([]runTime, len(cs))}
}

// roundBits rounds v > 0 to its top n significant bits.
func roundBits(v float64, n int) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return v
	}
	frac, exp := math.Frexp(v) // v = frac · 2^exp, frac in [0.5, 1)
	scale := float64(int64(1) << n)
	return math.Ldexp(math.Round(frac*scale)/scale, exp)
}

// Collect runs every collector once into e. A failing collector is logged,
// counted and skipped. Like node_exporter, each collector's run is
// reported as node_scrape_collector_duration_seconds{collector} and
// node_scrape_collector_success{collector} (0 on failure and on no data);
// the duration is the mean run time over the last wall-clock minute,
// changed only when the mean moved by more than 25 % and rounded to three
// significant bits (see runTime): within about 40 % of that mean.
//
// When the Set has a procfs root (DefaultWith) and it is gone — unmounted,
// a synthetic host retired — the cycle reports nothing at all, not even
// the time, timex and scrape series that need no file: an agent that
// cannot see its host ships no windows. Counted as failures of "procfs".
func (s *Set) Collect(e *Emitter) {
	if s.root != "" {
		if _, err := os.Stat(s.root); err != nil {
			if s.rootMissing.Add(1) == 1 {
				s.log.Warn("procfs root unreadable; reporting nothing until it is back (logged once, then counted)", "root", s.root, "err", err)
			}
			return
		}
	}
	period := e.ts - e.ts%durationPeriodMs
	next := period != s.period
	s.period = period
	for i, c := range s.collectors {
		t0 := time.Now()
		err := c.Collect(e)
		took := time.Since(t0)
		ok := 1.0
		if err != nil {
			ok = 0
		}
		d := &s.durations[i]
		if next && d.n > 0 || d.reported == 0 {
			mean := (d.sum + took).Seconds() / float64(d.n+1)
			if d.reported == 0 || math.Abs(mean-d.reported) > durationSlack*d.reported {
				d.reported = roundBits(mean, durationBits)
			}
			d.sum, d.n = 0, 0
		}
		d.sum += took
		d.n++
		e.Gauge("node_scrape_collector_duration_seconds", d.reported, "collector", c.Name())
		e.Gauge("node_scrape_collector_success", ok, "collector", c.Name())
		if err != nil {
			if errors.Is(err, ErrNoData) {
				if s.log.Enabled(context.Background(), slog.LevelDebug) {
					s.log.Debug("source has no data", "source", c.Name(), "err", err)
				}
				continue
			}
			if s.failures[i].Add(1) == 1 {
				s.log.Warn("source failed; skipping it (logged once, then counted)", "source", c.Name(), "err", err)
			}
		}
	}
}

// Failures returns the failure count per collector name.
func (s *Set) Failures() map[string]uint64 {
	m := make(map[string]uint64, len(s.collectors)+1)
	for i, c := range s.collectors {
		m[c.Name()] = s.failures[i].Load()
	}
	if s.root != "" {
		m["procfs"] = s.rootMissing.Load()
	}
	return m
}

// Names lists the collectors in the set.
func (s *Set) Names() []string {
	n := make([]string, len(s.collectors))
	for i, c := range s.collectors {
		n[i] = c.Name()
	}
	return n
}

func wrap(source, path string, err error) error {
	return fmt.Errorf("collect %s: %s: %w", source, path, err)
}
