package detect

import (
	"math"
	"unsafe"
)

// DSPOT is SPOT with drift (Siffer et al., KDD 2017, Algorithm 3): it runs
// [SPOT] on x - M, where M is the mean of the last Depth normal samples, so
// a slowly moving baseline does not look extreme while a departure from the
// recent level does. Samples SPOT flags as anomalies are kept out of the
// window, as in the paper.
//
// State per series: SPOT's state plus Depth × 8 bytes of window and 56
// bytes; 880 bytes with the defaults. Cost per sample: SPOT's plus O(1) for the window.
type DSPOT struct {
	spot   SPOT
	win    []float64
	sum    float64
	head   int
	filled int
	score  float64
}

// NewDSPOT returns a DSPOT detector; cfg must be valid (see Validate).
func NewDSPOT(cfg SPOTConfig) DSPOT {
	cfg = cfg.withDefaults()
	return DSPOT{spot: NewSPOT(cfg), win: make([]float64, cfg.Depth)}
}

// Push scores x, then learns it. NaN and ±Inf are missing: they score 0 and
// change nothing.
func (d *DSPOT) Push(x float64) float64 {
	d.score = 0
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	if d.filled < len(d.win) {
		d.win[d.filled] = x
		d.sum += x
		d.filled++
		return 0
	}
	m := d.sum / float64(len(d.win))
	d.score = d.spot.Push(x - m)
	if d.spot.Alarm() {
		return d.score
	}
	d.sum += x - d.win[d.head]
	d.win[d.head] = x
	d.head++
	if d.head == len(d.win) {
		d.head = 0
		// Re-add from scratch once per lap so rounding cannot accumulate.
		d.sum = 0
		for _, v := range d.win {
			d.sum += v
		}
	}
	return d.score
}

// Score returns the score of the last Push.
func (d *DSPOT) Score() float64 { return d.score }

// Alarm reports whether the last sample exceeded z_q.
func (d *DSPOT) Alarm() bool { return d.spot.Alarm() }

// Footprint reports the state size and cost per sample.
func (d *DSPOT) Footprint() Footprint {
	sp := d.spot.Footprint()
	return Footprint{
		StateBytes: int(unsafe.Sizeof(*d)) - int(unsafe.Sizeof(d.spot)) + sp.StateBytes + 8*cap(d.win),
		PerSample:  sp.PerSample + "; plus O(1) moving mean",
	}
}
