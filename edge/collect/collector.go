package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
}

// NewSet returns a Set running cs in order.
func NewSet(log *slog.Logger, cs ...Collector) *Set {
	return &Set{collectors: cs, log: log, failures: make([]atomic.Uint64, len(cs))}
}

// Collect runs every collector once into e. A failing collector is logged,
// counted and skipped. Like node_exporter, each collector's run is
// reported as node_scrape_collector_duration_seconds{collector} and
// node_scrape_collector_success{collector} (0 on failure and on no data).
func (s *Set) Collect(e *Emitter) {
	for i, c := range s.collectors {
		t0 := time.Now()
		err := c.Collect(e)
		ok := 1.0
		if err != nil {
			ok = 0
		}
		e.Gauge("node_scrape_collector_duration_seconds", time.Since(t0).Seconds(), "collector", c.Name())
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
	m := make(map[string]uint64, len(s.collectors))
	for i, c := range s.collectors {
		m[c.Name()] = s.failures[i].Load()
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
