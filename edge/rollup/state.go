package rollup

import "math"

// State is one series' summary over (part of) a window.
type State struct {
	Count   uint32
	Sum     float64
	Min     float64
	Max     float64
	First   float64
	FirstTS int64
	Last    float64
	LastTS  int64
	// Raw is, for counters, the raw counter value at LastTS (Last is the
	// rate there).
	Raw float64
}

// Add folds one value observed at ts into s.
func (s *State) Add(ts int64, v float64) {
	if s.Count == 0 {
		*s = State{Count: 1, Sum: v, Min: v, Max: v, First: v, FirstTS: ts, Last: v, LastTS: ts}
		return
	}
	s.Count++
	s.Sum += v
	s.Min = math.Min(s.Min, v)
	s.Max = math.Max(s.Max, v)
	if ts < s.FirstTS {
		s.First, s.FirstTS = v, ts
	}
	if ts >= s.LastTS {
		s.Last, s.LastTS = v, ts
	}
}

// Merge folds o into s, as if o's samples had been added to s.
func (s *State) Merge(o *State) {
	if o.Count == 0 {
		return
	}
	if s.Count == 0 {
		*s = *o
		return
	}
	s.Count += o.Count
	s.Sum += o.Sum
	s.Min = math.Min(s.Min, o.Min)
	s.Max = math.Max(s.Max, o.Max)
	if o.FirstTS < s.FirstTS {
		s.First, s.FirstTS = o.First, o.FirstTS
	}
	if o.LastTS >= s.LastTS {
		s.Last, s.LastTS, s.Raw = o.Last, o.LastTS, o.Raw
	}
}
