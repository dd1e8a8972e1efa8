package agent

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/detect"
	"github.com/edgepulse/edgepulse/edge/collect"
)

// Host signals the agent derives from the raw series every cycle and runs
// the detectors on. Rules may name them (and any raw series by its metric
// name, for series without labels).
const (
	SignalCPUBusy   = "cpu_busy_percent"         // 100 × non-idle share of all CPUs' time
	SignalMemAvail  = "memory_available_percent" // 100 × MemAvailable / MemTotal
	SignalFSUsed    = "filesystem_used_percent"  // per mountpoint: 100 × (1 − avail / size)
	SignalLoadPerCP = "load1_per_cpu"            // node_load1 / number of CPUs
)

// DetectConfig configures edge detection.
type DetectConfig struct {
	// Enabled turns detection on; default true.
	Enabled *bool `yaml:"enabled"`
	// Detectors are the streaming detectors and rules (package detect).
	Detectors detect.Config `yaml:"detectors"`
	// Incident is the hysteresis that turns scores into incidents.
	Incident detect.IncidentConfig `yaml:"incident"`
	// Context is how many seconds of raw samples travel with an incident on
	// each side of its opening; default 30.
	Context int `yaml:"context"`
}

// DefaultRules are the rules every agent starts with.
const DefaultRules = `
rules:
  - {name: cpu_busy, series: cpu_busy_percent, op: ">", threshold: 90, clear: 85, for: 60s}
  - {name: memory_low, series: memory_available_percent, op: "<", threshold: 5, clear: 7}
  - {name: filesystem_full, series: filesystem_used_percent, op: ">", threshold: 85, clear: 83}
`

func (c DetectConfig) withDefaults() (DetectConfig, error) {
	if c.Enabled == nil {
		t := true
		c.Enabled = &t
	}
	if c.Context == 0 {
		c.Context = 30
	}
	if c.Detectors.Fusion.Calibrate == nil {
		// Uncalibrated scores keep each detector's own scale (0.5 is its alarm
		// level, 1 far beyond it); calibration against a short history caps
		// scores near 0.55, below any useful incident threshold.
		f := false
		c.Detectors.Fusion.Calibrate = &f
	}
	// The agent keeps the max fusion of calibrated online detectors and no
	// distribution detector unless configured: Dist learns the level a
	// series had in its first samples, and a slow, steady level change
	// (a disk filling) would keep it in its tail and open incidents.
	if c.Detectors.Fusion.Series == "" {
		c.Detectors.Fusion.Series = detect.FuseMax
	}
	if c.Detectors.Fusion.Host == "" {
		c.Detectors.Fusion.Host = detect.FuseMax
	}
	if c.Detectors.Fusion.Weights.Dist == nil {
		zero := 0.0
		c.Detectors.Fusion.Weights.Dist = &zero
	}
	if c.Detectors.Rules == nil {
		rs, err := detect.ParseRules([]byte(DefaultRules))
		if err != nil {
			return c, err
		}
		c.Detectors.Rules = rs.Rules
	}
	return c, nil
}

// Validate names the first bad field.
func (c DetectConfig) Validate() error {
	if c.Context < 0 || c.Context > 600 {
		return fmt.Errorf("config: detect.context %d must be between 0 and 600 seconds", c.Context)
	}
	if err := c.Detectors.Validate(); err != nil {
		return fmt.Errorf("config: detect.detectors: %w", err)
	}
	if err := c.Incident.Validate(); err != nil {
		return fmt.Errorf("config: detect.incident.%w", err)
	}
	return nil
}

// signal is one detected series with its detectors, incident state and
// recent raw history.
type signal struct {
	name   string
	labels []string
	det    detect.Series
	inc    detect.IncidentTracker
	hist   []float64 // ring of the last Context values
	histTS int64     // time of the newest value in hist
	n      int       // values pushed so far
	open   uint64    // incident id while one is open
	post   *codec.Event
	left   int // post-context samples still to collect
}

// Detector runs the edge detectors over one host's samples. It is used by
// the agent's rollup loop: Observe every sample of a cycle, then EndCycle.
type Detector struct {
	cfg     DetectConfig
	reg     *collect.Registry
	step    int64
	signals map[string]*signal
	ready   []codec.Event
	opened  atomic.Uint64 // read by Stats from other goroutines
	closed  atomic.Uint64
	// lastOpened names the signal of the newest incident.
	lastOpened string

	cycle                      int64
	cpuTotal, cpuIdle          float64
	prevTotal, prevIdle        float64
	memAvail, memTotal, load1  float64
	ncpu                       int
	fsAvail, fsSize            map[string]float64
	hasCPU, hasMem, havePrevCP bool
}

// NewDetector returns a detector over series interned in reg, sampled every
// interval.
func NewDetector(cfg DetectConfig, reg *collect.Registry, interval time.Duration) (*Detector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{
		cfg: cfg, reg: reg, step: interval.Milliseconds(),
		signals: make(map[string]*signal), fsAvail: make(map[string]float64), fsSize: make(map[string]float64),
	}, nil
}

// Observe folds one raw sample into the current cycle.
func (d *Detector) Observe(series uint32, ts int64, v float64) {
	if ts != d.cycle && d.cycle != 0 {
		d.EndCycle()
	}
	d.cycle = ts
	desc := d.reg.Desc(series)
	if desc == nil {
		return
	}
	switch desc.Name {
	case "node_cpu_seconds_total":
		d.cpuTotal += v
		if mode := label(desc.Labels, "mode"); mode == "idle" || mode == "iowait" {
			d.cpuIdle += v
		}
		if mode := label(desc.Labels, "mode"); mode == "idle" {
			d.ncpu++
		}
		d.hasCPU = true
	case "node_memory_MemAvailable_bytes":
		d.memAvail, d.hasMem = v, true
	case "node_memory_MemTotal_bytes":
		d.memTotal = v
	case "node_load1":
		d.load1 = v
	case "node_filesystem_avail_bytes":
		d.fsAvail[label(desc.Labels, "mountpoint")] = v
	case "node_filesystem_size_bytes":
		d.fsSize[label(desc.Labels, "mountpoint")] = v
	default:
		if len(desc.Labels) == 0 {
			if _, ruled := d.ruled(desc.Name); ruled {
				d.push(desc.Name, nil, ts, v)
			}
		}
	}
}

func (d *Detector) ruled(name string) (int, bool) {
	for i := range d.cfg.Detectors.Rules {
		if d.cfg.Detectors.Rules[i].Series == name {
			return i, true
		}
	}
	return 0, false
}

func label(pairs []string, name string) string {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == name {
			return pairs[i+1]
		}
	}
	return ""
}

// EndCycle derives the host signals of the cycle and runs their detectors.
func (d *Detector) EndCycle() {
	ts := d.cycle
	if ts == 0 {
		return
	}
	if d.hasCPU {
		if d.havePrevCP && d.cpuTotal > d.prevTotal {
			busy := 100 * (1 - (d.cpuIdle-d.prevIdle)/(d.cpuTotal-d.prevTotal))
			d.push(SignalCPUBusy, nil, ts, math.Max(0, math.Min(100, busy)))
		}
		d.prevTotal, d.prevIdle, d.havePrevCP = d.cpuTotal, d.cpuIdle, true
		if d.ncpu > 0 {
			d.push(SignalLoadPerCP, nil, ts, d.load1/float64(d.ncpu))
		}
	}
	if d.hasMem && d.memTotal > 0 {
		d.push(SignalMemAvail, nil, ts, 100*d.memAvail/d.memTotal)
	}
	for mp, size := range d.fsSize {
		if avail, ok := d.fsAvail[mp]; ok && size > 0 {
			d.push(SignalFSUsed, []string{"mountpoint", mp}, ts, 100*(1-avail/size))
		}
	}
	d.cpuTotal, d.cpuIdle, d.ncpu, d.hasCPU, d.hasMem = 0, 0, 0, false, false
	clear(d.fsAvail)
	clear(d.fsSize)
	d.cycle = 0
}

// push runs one value of a signal through its detectors and incident
// tracker, and records what that changes.
func (d *Detector) push(name string, labels []string, ts int64, v float64) {
	key := name
	if len(labels) > 0 {
		key = name + "\x00" + strings.Join(labels, "\x00")
	}
	s := d.signals[key]
	if s == nil {
		s = &signal{name: name, labels: labels, det: detect.NewSeries(&d.cfg.Detectors, name),
			inc: detect.NewIncidentTracker(d.cfg.Incident), hist: make([]float64, d.cfg.Context+1)}
		d.signals[key] = s
	}
	s.det.Push(time.Duration(ts)*time.Millisecond, v)
	score := incidentScore(&s.det)
	s.hist[s.n%len(s.hist)] = v
	s.n++
	s.histTS = ts
	if s.post != nil {
		s.post.Context = append(s.post.Context, v)
		if s.left--; s.left <= 0 {
			d.ready = append(d.ready, *s.post)
			s.post = nil
		}
	}
	switch s.inc.Push(score) {
	case detect.Opened:
		d.opened.Add(1)
		d.lastOpened = name
		s.open = uint64(ts)
		ev := codec.Event{Kind: codec.Open, Incident: s.open, Series: name, Labels: labels, TS: ts,
			Score: score, Value: v, Reason: reason(&s.det), Step: d.step}
		n := min(s.n, len(s.hist))
		ev.Start = ts - int64(n-1)*d.step
		for i := s.n - n; i < s.n; i++ {
			ev.Context = append(ev.Context, s.hist[i%len(s.hist)])
		}
		if d.cfg.Context > 0 {
			s.post, s.left = &ev, d.cfg.Context
		} else {
			d.ready = append(d.ready, ev)
		}
	case detect.Closed:
		d.closed.Add(1)
		if s.post != nil { // closed before the context was complete
			d.ready = append(d.ready, *s.post)
			s.post = nil
		}
		d.ready = append(d.ready, codec.Event{Kind: codec.Close, Incident: s.open, Series: name, Labels: labels,
			TS: ts, Score: score, Value: v, Step: d.step})
		s.open = 0
	}
}

// incidentScore fuses a signal's detectors for incidents. The value must
// be far from its recent level (the robust EWMA z-score) and an
// extreme-value or change detector (SPOT, CUSUM) must confirm it: the
// minimum of the two. One detector's excursion is not enough — CUSUM and
// DSPOT both stay high for a while after a lone spike, while the value is
// already back to normal — nor is one detector's blind spot (SPOT after a
// heavy-tailed history). A firing rule is enough on its own.
func incidentScore(s *detect.Series) float64 {
	sc := s.Scores()
	return max(min(sc.EWMA, max(sc.SPOT, sc.CUSUM)), sc.Rules)
}

func reason(s *detect.Series) string {
	var parts []string
	parts = s.FiringRules(parts)
	for i := range parts {
		parts[i] = "rule:" + parts[i]
	}
	sc := s.Scores()
	for _, p := range []struct {
		n string
		v float64
	}{{"ewma", sc.EWMA}, {"spot", sc.SPOT}, {"cusum", sc.CUSUM}} {
		if p.v >= 0.5 {
			parts = append(parts, p.n)
		}
	}
	return strings.Join(parts, ",")
}

// TakeEvents returns the events ready to ship and forgets them.
func (d *Detector) TakeEvents() []codec.Event {
	ev := d.ready
	d.ready = nil
	return ev
}

// Incidents returns how many incidents opened and closed so far.
func (d *Detector) Incidents() (opened, closed uint64) { return d.opened.Load(), d.closed.Load() }
