package rollup

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

// Options configure a Windows. The zero value of Width and RelativeAccuracy
// means their default.
type Options struct {
	Width    time.Duration `yaml:"width"`    // window width; default 60 s
	Lateness time.Duration `yaml:"lateness"` // how long after its end a window stays open; default 2 s
	// RelativeAccuracy bounds the relative error of every sketch quantile;
	// default 0.01 (1 %).
	RelativeAccuracy float64 `yaml:"relative_accuracy"`
	// NoSketch turns the quantile sketches off: States keep count, sum,
	// min, max, first and last only, and Quantiles is nil.
	NoSketch bool `yaml:"no_sketch"`
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{Width: time.Minute, Lateness: 2 * time.Second, RelativeAccuracy: 0.01}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.Width == 0 {
		o.Width = d.Width
	}
	if o.RelativeAccuracy == 0 {
		o.RelativeAccuracy = d.RelativeAccuracy
	}
	return o
}

// Validate names the first bad field (zero values stand for their
// defaults).
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case o.Width < time.Second || o.Width > 24*time.Hour || o.Width%time.Second != 0:
		return fmt.Errorf("rollup: width %v must be whole seconds between 1s and 24h", o.Width)
	case o.Lateness < 0 || o.Lateness >= o.Width:
		return fmt.Errorf("rollup: lateness %v must be ≥ 0 and below the width %v", o.Lateness, o.Width)
	case !(o.RelativeAccuracy >= 0.0001 && o.RelativeAccuracy <= 0.5): // also rejects NaN
		return fmt.Errorf("rollup: relative_accuracy %v must be between 0.0001 and 0.5", o.RelativeAccuracy)
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
	sketch          *SketchConfig // nil: sketches off
	open            map[int64]map[uint32]*State
	closedUpTo      int64 // every window with start < closedUpTo is closed
	prev            map[uint32]counterPrev
	late            uint64
	lateSinceClose  uint32
	outOfOrder      uint64
	out             []Window
	free            []*State
	freeMaps        []map[uint32]*State
}

// New returns an empty Windows.
func New(opts Options, kind KindFunc) (*Windows, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	w := &Windows{
		width:    opts.Width.Milliseconds(),
		lateness: opts.Lateness.Milliseconds(),
		kind:     kind,
		open:     make(map[int64]map[uint32]*State),
		prev:     make(map[uint32]counterPrev),
	}
	if !opts.NoSketch {
		c, err := NewSketchConfig(opts.RelativeAccuracy)
		if err != nil {
			return nil, err
		}
		w.sketch = c
	}
	return w, nil
}

// Sketch returns the config of the States' sketches, nil when they are off.
func (w *Windows) Sketch() *SketchConfig { return w.sketch }

// WindowStart returns the start of the window holding ts.
func (w *Windows) WindowStart(ts int64) int64 { return ts - mod(ts, w.width) }

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Add folds one sample into its window and reports whether it did.
//
// A sample whose window is already closed is counted as late ([Windows.Late])
// and returns false. A gauge's value is folded as is. A counter's value is
// turned into the per-second rate since the series' previous sample (a drop
// is a reset: the increase is the new value, as Prometheus' rate()
// assumes); its first sample has no rate and only sets the window's Raw,
// and a sample not newer than the previous one cannot make a rate: it is
// counted ([Windows.OutOfOrder]) and returns false.
func (w *Windows) Add(series uint32, ts int64, v float64) bool {
	start := w.WindowStart(ts)
	if start < w.closedUpTo {
		w.late++
		w.lateSinceClose++
		return false
	}
	if w.kind(series) != codec.Counter {
		w.state(start, series).Add(ts, v)
		return true
	}
	p, seen := w.prev[series]
	switch {
	case !seen:
		w.prev[series] = counterPrev{ts, v}
		// The first sight of a counter has no rate yet; keep the raw value
		// so the window's last raw value is right, but add no rate sample.
		if st := w.state(start, series); st.Count == 0 && ts >= st.LastTS {
			st.Raw, st.LastTS = v, ts
		}
		return true
	case ts <= p.ts:
		w.outOfOrder++
		return false
	}
	delta := v - p.v
	if delta < 0 { // reset: the counter restarted from zero
		delta = v
	}
	w.prev[series] = counterPrev{ts, v}
	st := w.state(start, series)
	st.Add(ts, delta/(float64(ts-p.ts)/1000))
	if ts >= st.LastTS {
		st.Raw = v
	}
	return true
}

func (w *Windows) state(start int64, series uint32) *State {
	m := w.open[start]
	if m == nil {
		if n := len(w.freeMaps); n > 0 {
			m, w.freeMaps = w.freeMaps[n-1], w.freeMaps[:n-1]
		} else {
			m = make(map[uint32]*State)
		}
		w.open[start] = m
	}
	st := m[series]
	if st == nil {
		if n := len(w.free); n > 0 {
			st, w.free = w.free[n-1], w.free[:n-1]
			st.Reset()
		} else {
			st = w.sketch.NewState()
		}
		m[series] = st
	}
	return st
}

// Close returns, oldest first, every open window whose end plus the
// lateness is at or before watermark (Unix ms), and marks them closed:
// later samples for them are late. The Late count of the newest returned
// window carries the late samples seen since the previous Close that
// returned a window. The returned slice is reused by the next Close.
func (w *Windows) Close(watermark int64) []Window {
	out := w.out[:0]
	for start, m := range w.open {
		if start+w.width+w.lateness <= watermark {
			out = append(out, Window{Start: start, Width: w.width, States: m})
			delete(w.open, start)
		}
	}
	slices.SortFunc(out, func(a, b Window) int { return cmp.Compare(a.Start, b.Start) })
	if c := w.WindowStart(watermark - w.lateness); c > w.closedUpTo {
		w.closedUpTo = c
	}
	if len(out) > 0 {
		out[len(out)-1].Late = w.lateSinceClose
		w.lateSinceClose = 0
	}
	w.out = out
	return out
}

// Recycle hands a closed window's states, their sketches and its map back
// for reuse by later windows, so a steady cycle does not allocate. The
// window must not be used afterwards.
func (w *Windows) Recycle(win Window) {
	for _, st := range win.States {
		w.free = append(w.free, st)
	}
	if win.States != nil {
		clear(win.States)
		w.freeMaps = append(w.freeMaps, win.States)
	}
}

// Late is the number of samples that arrived after their window closed.
func (w *Windows) Late() uint64 { return w.late }

// OutOfOrder is the number of counter samples dropped because they were
// not newer than the series' previous sample.
func (w *Windows) OutOfOrder() uint64 { return w.outOfOrder }

// Forget drops the counter memory of a series that is gone.
func (w *Windows) Forget(series uint32) { delete(w.prev, series) }
