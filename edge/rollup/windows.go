package rollup

import (
	"fmt"
	"slices"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

// Options configure a Windows.
type Options struct {
	Width    time.Duration `yaml:"width"`    // window width; default 60 s
	Lateness time.Duration `yaml:"lateness"` // how long after its end a window stays open; default 2 s
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options { return Options{Width: time.Minute, Lateness: 2 * time.Second} }

// Validate names the first bad field.
func (o Options) Validate() error {
	switch {
	case o.Width < time.Second || o.Width > 24*time.Hour || o.Width%time.Second != 0:
		return fmt.Errorf("rollup: width %v must be whole seconds between 1s and 24h", o.Width)
	case o.Lateness < 0 || o.Lateness >= o.Width:
		return fmt.Errorf("rollup: lateness %v must be ≥ 0 and below the width %v", o.Lateness, o.Width)
	}
	return nil
}

// KindFunc tells the kind of a series id.
type KindFunc func(series uint32) codec.Kind

// Window is a closed window: its start (Unix ms), width (ms) and the state
// of every series that had a sample in it, indexed by series id (a zero
// Count means no sample).
type Window struct {
	Start, Width int64
	States       map[uint32]*State
	Late         uint32 // late samples counted against this window's successor period
}

type counterPrev struct {
	ts int64
	v  float64
}

// Windows holds the open windows.
type Windows struct {
	width, lateness int64
	kind            KindFunc
	open            map[int64]map[uint32]*State
	closedUpTo      int64 // every window with start < closedUpTo is closed
	prev            map[uint32]counterPrev
	late            uint64
	lateSinceClose  uint32
	free            []*State
}

// New returns an empty Windows.
func New(opts Options, kind KindFunc) (*Windows, error) {
	if opts.Width == 0 {
		opts.Width = DefaultOptions().Width
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Windows{
		width:    opts.Width.Milliseconds(),
		lateness: opts.Lateness.Milliseconds(),
		kind:     kind,
		open:     make(map[int64]map[uint32]*State),
		prev:     make(map[uint32]counterPrev),
	}, nil
}

// WindowStart returns the start of the window holding ts.
func (w *Windows) WindowStart(ts int64) int64 { return ts - mod(ts, w.width) }

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Add folds one sample into its window. It returns false, and counts the
// sample as late, when that window is already closed.
func (w *Windows) Add(series uint32, ts int64, v float64) bool {
	start := w.WindowStart(ts)
	if start < w.closedUpTo {
		w.late++
		w.lateSinceClose++
		return false
	}
	val, raw := v, v
	if w.kind(series) == codec.Counter {
		p, seen := w.prev[series]
		if !seen || ts <= p.ts {
			if !seen || ts > p.ts {
				w.prev[series] = counterPrev{ts, v}
			}
			// The first sight of a counter has no rate yet; keep the raw value
			// so Last is right, but add no rate sample.
			st := w.state(start, series)
			if st.Count == 0 {
				st.Raw, st.LastTS = raw, ts
			}
			return true
		}
		delta := v - p.v
		if delta < 0 { // reset: the counter restarted from zero
			delta = v
		}
		val = delta / (float64(ts-p.ts) / 1000)
		w.prev[series] = counterPrev{ts, v}
	}
	st := w.state(start, series)
	st.Add(ts, val)
	if ts >= st.LastTS {
		st.Raw = raw
	}
	return true
}

func (w *Windows) state(start int64, series uint32) *State {
	m := w.open[start]
	if m == nil {
		m = make(map[uint32]*State)
		w.open[start] = m
	}
	st := m[series]
	if st == nil {
		if n := len(w.free); n > 0 {
			st, w.free = w.free[n-1], w.free[:n-1]
			*st = State{}
		} else {
			st = new(State)
		}
		m[series] = st
	}
	return st
}

// Close returns, oldest first, every open window whose end plus the
// lateness is at or before watermark (Unix ms), and marks them closed. The
// States of returned windows may be recycled after the next call to Close.
func (w *Windows) Close(watermark int64) []Window {
	var out []Window
	for start, m := range w.open {
		if start+w.width+w.lateness <= watermark {
			out = append(out, Window{Start: start, Width: w.width, States: m})
			delete(w.open, start)
		}
	}
	slices.SortFunc(out, func(a, b Window) int { return int(a.Start - b.Start) })
	if c := w.WindowStart(watermark - w.lateness); c > w.closedUpTo {
		w.closedUpTo = c
	}
	if len(out) > 0 {
		out[len(out)-1].Late = w.lateSinceClose
		w.lateSinceClose = 0
	}
	return out
}

// Recycle hands a closed window's states back for reuse.
func (w *Windows) Recycle(win Window) {
	for _, st := range win.States {
		w.free = append(w.free, st)
	}
}

// Late is the number of samples that arrived after their window closed.
func (w *Windows) Late() uint64 { return w.late }

// Forget drops the counter memory of a series that is gone.
func (w *Windows) Forget(series uint32) { delete(w.prev, series) }
