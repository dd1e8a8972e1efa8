package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tags of a gauge's level (flagLevel) in the raws section, beside the
// counters' (rawSame and rawAbsolute mean the same for both).
const (
	levelFix  = 9                   // unchanged since the base, but the base's level was off: exactly, against it
	levelStep = 10                  // + down: moved by a quantized step
	levelSnap = 12                  // + 2·s + down: moved by a quantized step, then rounded to a multiple of 1/snapScales[s]
	levelMax  = levelSnap + 2*6 - 1 // 6 = len(snapScales)
)

// snapScales are the quanta a level can be rounded to, as 1/quantum,
// largest quantum first: pages (4096 B) and kB (meminfo's 1024 B), so a
// step of a few pages rounds back exactly even when its error exceeds a
// byte; integers (bytes, counts); /proc's fixed decimals (loadavg's 0.01).
// Every scale is a power of two or an integer, so v·s rounds and divides
// back exactly.
var snapScales = [...]float64{1.0 / 4096, 1.0 / 1024, 1, 10, 100, 1000}

// putLevel writes a quantized gauge's last value (its level) the way
// putCounter writes a counter's, with error feedback: the step is taken
// from the level the decoder holds, so the decoded level is within
// precision of the step — of the change since the window before, not of
// the level — and errors never add up; a difference of two large, nearly
// equal gauges keeps its sign and size. When rounding the decoded level
// to a multiple of 4096, of 1024, to an integer or to a fixed decimal
// (10^-1…10^-3) gives the agent's value back, the step says so and the
// level arrives exactly (pages, kB, counts, loadavg). A level that did not change arrives exactly: "same" when the
// decoder holds it already, else the correction, once. A keyframe sends
// the level exactly.
func (q quantizer) putLevel(w symWriter, e, b *entry) {
	have := b.hasLevel()
	switch {
	case have && math.Float64bits(e.truth) == math.Float64bits(b.truth) && math.Float64bits(b.raw) == math.Float64bits(b.truth):
		e.raw, e.inc = b.raw, b.inc
		w.tag(cRawTag, rawSame)
		return
	case have && math.Float64bits(e.truth) == math.Float64bits(b.truth):
		e.raw, e.inc = e.truth, b.inc
		w.tag(cRawTag, levelFix)
		w.raw(appendRaw(nil, e.truth, b.raw, true))
		return
	case have:
		d := e.truth - b.raw
		if k, ok := q.code(math.Abs(d)); ok && k > 0 {
			down := 0
			if d < 0 {
				down = 1
			}
			v := q.step(b.raw, k, down == 1)
			tag := byte(levelStep + down)
			for s, sc := range snapScales {
				if r := snap(v, sc); math.Float64bits(r) == math.Float64bits(e.truth) {
					v, tag = r, byte(levelSnap+2*s+down)
					break
				}
			}
			w.tag(cRawTag, tag)
			w.code(cInc, k, q.stepPrediction(b))
			e.raw, e.inc = v, k
			return
		}
	}
	// Exactly; the step code stays (0 for a fresh entry), so a decoder
	// state written as a keyframe keeps its predictions.
	e.raw = e.truth
	if have {
		e.inc = b.inc
	}
	w.tag(cRawTag, rawAbsolute)
	w.raw(binary.AppendVarint(appendRaw(nil, e.truth, 0, false), e.inc))
}

// snap rounds v to a multiple of 1/sc; a zero is +0 (a level stepping
// down to 0 lands a hair below it, and -0 would not be the agent's 0).
func snap(v, sc float64) float64 {
	r := math.Round(v*sc) / sc
	if r == 0 {
		return 0
	}
	return r
}

// step is the level base moved by the step of code k.
func (q quantizer) step(base float64, k int64, down bool) float64 {
	if down {
		return base - q.value(k)
	}
	return base + q.value(k)
}

// stepPrediction predicts a level step's code: the base's step, else a
// thousandth of the base's level.
func (q quantizer) stepPrediction(b *entry) int64 {
	if b.inc > 0 {
		return b.inc
	}
	if k, ok := q.code(math.Abs(b.raw) / 1000); ok && k > 0 {
		return k
	}
	return q.offset
}

// getLevel is putLevel's inverse.
// getAbsolute reads a raw value and the last code (an increment or a
// step, named by what) sent in full.
func (q quantizer) getAbsolute(sr symReader, e *entry, what string) error {
	r := sr.raw()
	e.raw = readRaw(r, 0, false)
	e.inc = r.varint()
	if r.err != nil {
		return r.err
	}
	if e.inc < 0 || !q.valid(e.inc) {
		return fmt.Errorf("bad %s code %d", what, e.inc)
	}
	return nil
}

func (q quantizer) getLevel(sr symReader, e, b *entry) error {
	have := b.hasLevel()
	switch tag := sr.tag(cRawTag); {
	case tag == rawSame && have:
		e.raw, e.inc = b.raw, b.inc
	case tag == levelFix && have:
		r := sr.raw()
		e.raw, e.inc = readRaw(r, b.raw, true), b.inc
		if r.err != nil {
			return r.err
		}
	case tag >= levelStep && tag <= levelMax && have:
		k := sr.code(cInc, q.stepPrediction(b))
		if k <= 0 || !q.valid(k) {
			return fmt.Errorf("bad level step code %d", k)
		}
		down := tag&1 == 1
		e.raw, e.inc = q.step(b.raw, k, down), k
		if tag >= levelSnap {
			e.raw = snap(e.raw, snapScales[(tag-levelSnap)/2])
		}
	case tag == rawAbsolute:
		if err := q.getAbsolute(sr, e, "level step"); err != nil {
			return err
		}
	default:
		return fmt.Errorf("bad level tag %d", tag)
	}
	e.truth = e.raw
	return nil
}
