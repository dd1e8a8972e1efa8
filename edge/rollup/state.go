package rollup

import (
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
)

// State is one series' summary over (part of) a window.
//
// The zero State keeps no sketch; a State from [SketchConfig.NewState] (or
// from a [Windows] with sketches on) also feeds every value into a quantile
// sketch. A State with a sketch must not be copied by value: the copy would
// share the sketch. Use [State.Merge] into an empty State instead.
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

	cfg *SketchConfig      // nil: no sketch
	sk  *ddsketch.DDSketch // made on the first sample; kept across Reset
	// sketched: every value of the State is in sk, so its quantiles hold.
	sketched bool
}

// Reset empties s, keeping its sketch config and the sketch's memory.
func (s *State) Reset() {
	*s = State{cfg: s.cfg, sk: s.sk}
}

// Add folds one value observed at ts into s.
func (s *State) Add(ts int64, v float64) {
	if s.Count == 0 {
		s.Count, s.Sum, s.Min, s.Max = 1, v, v, v
		s.First, s.FirstTS, s.Last, s.LastTS, s.Raw = v, ts, v, ts, 0
		s.sketched = s.cfg != nil
		if s.sketched {
			if s.sk == nil {
				s.sk = s.cfg.newSketch()
			} else {
				s.sk.Clear()
			}
		}
	} else {
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
	if s.sketched && s.sk.Add(v) != nil {
		s.sketched = false // NaN or ±Inf: no honest quantiles for this State
	}
}

// Merge folds o into s, as if o's samples had been added to s: Count, Sum,
// Min and Max combine exactly, First and Last go by timestamp (ties keep
// s's First and take o's Last), and the sketches merge. A State with no
// sample changes nothing.
//
// The result keeps quantiles only if both sides had a valid sketch (an
// empty s adopts o's sketch config). Merge returns [ErrSketchMismatch] when
// both sketches are valid but of different relative accuracies; the other
// fields are merged regardless and the result has no quantiles.
func (s *State) Merge(o *State) error {
	if o.Count == 0 {
		return nil
	}
	if s.Count == 0 {
		s.Count, s.Sum, s.Min, s.Max = o.Count, o.Sum, o.Min, o.Max
		s.First, s.FirstTS, s.Last, s.LastTS, s.Raw = o.First, o.FirstTS, o.Last, o.LastTS, o.Raw
		if s.cfg == nil {
			s.cfg = o.cfg
		}
		s.sketched = false
		if !o.sketched {
			return nil
		}
		if !sameSketch(s.cfg, o.cfg) {
			return ErrSketchMismatch
		}
		if s.sk == nil {
			s.sk = s.cfg.newSketch()
		} else {
			s.sk.Clear()
		}
		s.sketched = s.sk.MergeWith(o.sk) == nil
		return nil
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
	if !s.sketched {
		return nil
	}
	if !o.sketched {
		s.sketched = false
		return nil
	}
	if !sameSketch(s.cfg, o.cfg) {
		s.sketched = false
		return ErrSketchMismatch
	}
	s.sketched = s.sk.MergeWith(o.sk) == nil
	return nil
}
