package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tags of a counter's raw value in the raws section.
const (
	rawSame      = 0 // unchanged since the base
	rawIncrement = 6 // grown by a quantized increment
	rawAbsolute  = 7 // exactly, on its own (appendRaw against 0)
	rawExact     = 8 // exactly, against the base's (precision 0 only)
)

// appendCounter writes a counter's raw value. Where the base has one and
// the counter grew, only the increment travels, quantized like any
// statistic and packed against a prediction, and with error feedback: it
// is the increment from the value the decoder holds, not from the agent's
// previous value, so the decoded value is always within the precision of
// its last step and errors never add up; rate() over decoded values is
// within the precision of the true rate. A keyframe or a counter that went
// back (a reset) sends the value exactly; at precision 0 it always is.
func (q quantizer) putCounter(w symWriter, e, b *entry) {
	have := b.flags&flagCounter != 0
	switch {
	case have && math.Float64bits(e.truth) == math.Float64bits(b.truth):
		e.raw, e.inc = b.raw, b.inc
		w.tag(cRawTag, rawSame)
		return
	case q.p == 0:
		e.raw, e.inc = e.truth, 0
		w.tag(cRawTag, rawExact)
		w.raw(appendRaw(nil, e.truth, b.raw, have))
		return
	case have && e.truth > b.raw:
		if k, ok := q.code(e.truth - b.raw); ok {
			e.inc = k
			e.raw = b.raw + q.value(k)
			w.tag(cRawTag, rawIncrement)
			w.code(cInc, k, q.incPrediction(e, b))
			return
		}
	}
	// Exactly; the increment code stays (0 for a fresh entry), so a
	// decoder state written as a keyframe keeps its predictions.
	e.raw = e.truth
	w.tag(cRawTag, rawAbsolute)
	w.raw(binary.AppendVarint(appendRaw(nil, e.truth, 0, false), e.inc))
}

// incPrediction predicts an increment's code: the base's increment moved
// by as much as the rate's level moved (logs add), else the level.
func (q quantizer) incPrediction(e, b *entry) int64 {
	lvl := int64(e.v[0])
	if e.flags&(flagExact|flagFlat) != 0 {
		lvl = 0
	}
	if b.inc != 0 && lvl != 0 && b.flags&(flagExact|flagFlat) == 0 && b.v[0] != 0 {
		return b.inc + lvl - int64(b.v[0])
	}
	if b.inc != 0 {
		return b.inc
	}
	return lvl
}

// getCounter is putCounter's inverse.
func (q quantizer) getCounter(sr symReader, e, b *entry) error {
	have := b.flags&flagCounter != 0
	switch tag := sr.tag(cRawTag); {
	case tag == rawSame && have:
		e.raw, e.inc = b.raw, b.inc
	case tag == rawIncrement && have:
		e.inc = sr.code(cInc, q.incPrediction(e, b))
		if e.inc <= 0 || !q.valid(e.inc) {
			return fmt.Errorf("bad counter increment code %d", e.inc)
		}
		e.raw = b.raw + q.value(e.inc)
	case tag == rawAbsolute:
		if err := q.getAbsolute(sr, e, "counter increment"); err != nil {
			return err
		}
	case tag == rawExact && q.p == 0:
		r := sr.raw()
		e.raw, e.inc = readRaw(r, b.raw, have), 0
		if r.err != nil {
			return r.err
		}
	default:
		return fmt.Errorf("bad counter tag %d", tag)
	}
	e.truth = e.raw
	return nil
}
