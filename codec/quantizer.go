package codec

import (
	"encoding/binary"
	"math"
)

// entry quantizes one rollup.
func (q quantizer) entry(r *Rollup, kind Kind, first bool) *entry {
	e := &entry{count: r.Count}
	if !first {
		e.flags |= flagNoFirst
	}
	vals := [nFields]float64{fSum: r.Sum, fMin: r.Min, fMax: r.Max, fFirst: r.First, fLast: r.Last}
	if r.Count > 0 {
		vals[fSum] = r.Sum / float64(r.Count)
	}
	if len(r.Quantiles) == len(QuantileLevels) {
		e.flags |= flagQuantiles
		copy(vals[fQ50:], r.Quantiles)
	}
	e.truth = r.Last // a gauge's level; a counter's raw value
	if kind == Counter {
		e.flags |= flagCounter
		vals[fLast] = 0
	}
	if !first {
		vals[fFirst] = 0
	}
	// A window whose minimum and maximum are one value (a constant, an
	// idle counter's zero rate) travels exactly: every statistic is that
	// value (the sum is value·count, and the quantiles — a sketch's
	// estimates, which need not equal the constant — are the constant), it
	// costs nothing while it stays the same, and shows the value itself,
	// not a grid point.
	// At precision 0 the sum must be value·count to the bit as well (a
	// float sum of 60 copies of 0.1 is not 0.1·60), since every statistic
	// travels exactly there.
	if r.Count > 0 && math.Float64bits(r.Min) == math.Float64bits(r.Max) && !math.IsNaN(r.Min) &&
		(q.p > 0 || math.Float64bits(r.Sum) == math.Float64bits(r.Min*float64(r.Count))) {
		e.flags |= flagFlat
		for _, i := range append([]int{0}, spreadFields(e.flags)...) {
			e.v[i] = math.Float64bits(r.Min)
		}
		if kind != Counter {
			e.raw, e.truth = r.Min, r.Min
		}
		return e
	}
	exact := q.p == 0
	if !exact {
		for i, v := range vals {
			k, ok := q.code(v)
			if !ok {
				exact = true
				break
			}
			e.v[i] = uint64(k)
		}
	}
	if exact {
		e.flags |= flagExact
		vals[fSum] = r.Sum // exactly, not via the mean
		for i, v := range vals {
			e.v[i] = math.Float64bits(v)
		}
		e.raw = e.truth
		return e
	}
	if kind != Counter && r.Count > 0 {
		// The level travels as a step from the base's (putLevel).
		e.flags |= flagLevel
		e.v[fLast] = 0
	}
	return e
}

// hasLevel tells whether e holds a gauge level a following window's step
// can start from: a gauge with samples, flat, exact or sent as a level.
func (e *entry) hasLevel() bool {
	return e.count > 0 && e.flags&flagCounter == 0 && e.flags&(flagFlat|flagExact|flagLevel) != 0
}

// setLevel fills a flat or exact gauge's level from its values, the same
// at both ends; the step code is not carried (a saved state could not
// hold it).
func (e *entry) setLevel() {
	switch {
	case e.flags&flagFlat != 0:
		e.raw = math.Float64frombits(e.v[0])
	case e.flags&flagExact != 0:
		e.raw = math.Float64frombits(e.v[fLast])
	}
	e.truth, e.inc = e.raw, 0
}

// flatBits is the value a flat entry is packed against: the base's value
// when the base was flat too, else 0.
func (e *entry) flatBits() uint64 {
	if e.flags&flagFlat != 0 {
		return e.v[0]
	}
	return 0
}

// predict fills the codes a quantized entry e is packed against, from its
// base b (the series in the previous frame): the level against the base's
// level, the spreads against the level, a gauge's first value against the
// base's last (the sample before it), and the upper quantiles against the
// maximum (filled in by the caller once the maximum is known). Everything
// here is integer arithmetic on codes, so both ends agree on every
// architecture.
func (q quantizer) predict(pred *[nFields]int64, e, b *entry) {
	quantized := b.quantized()
	if quantized {
		pred[0] = int64(b.v[0])
	}
	for i := 1; i < nFields; i++ {
		pred[i] = int64(e.v[0])
	}
	if quantized && e.flags&flagCounter == 0 && b.flags&(flagCounter|flagLevel) == 0 {
		pred[fFirst] = int64(b.v[fLast])
	}
}

// appendCode writes code k against the prediction p: 0 for the value 0,
// else 1 + the zigzag difference (a prediction of 0 stands for the code
// of 1.0, so a series leaving zero costs its magnitude, not the offset).
func (q quantizer) appendCode(dst []byte, k, p int64) []byte {
	if k == 0 {
		return append(dst, 0)
	}
	if p == 0 {
		p = q.offset
	}
	d := k - p
	return binary.AppendUvarint(dst, uint64(d<<1^d>>63)+1)
}

// readCode is appendCode's inverse.
func (q quantizer) readCode(r *reader, p int64) int64 {
	u := r.uvarint()
	if u == 0 {
		return 0
	}
	if p == 0 {
		p = q.offset
	}
	u--
	return p + (int64(u>>1) ^ -int64(u&1))
}

// spreadFields are the fields a quantized entry packs against its level:
// the ones it has (a counter's last is raw, quantiles may be absent).
func spreadFields(flags uint8) []int {
	k := 0
	if flags&(flagCounter|flagLevel) != 0 {
		k |= 1 // the last value is raw
	}
	if flags&flagQuantiles != 0 {
		k |= 2
	}
	if flags&flagNoFirst != 0 {
		k |= 4
	}
	return fieldSets[k]
}

// fieldSets[rawLast | quantiles<<1 | noFirst<<2] lists the fields a
// quantized entry has besides its level, fMax before fQ90 and fQ99 (which
// are packed against it).
var fieldSets = func() (out [8][]int) {
	for k := range out {
		for _, f := range []int{fMin, fMax, fFirst, fLast, fQ50, fQ90, fQ99} {
			switch {
			case f == fLast && k&1 != 0, f >= fQ50 && k&2 == 0, f == fFirst && k&4 != 0:
				continue
			}
			out[k] = append(out[k], f)
		}
	}
	return out
}()

// rollup turns an entry back into statistics.
func (q quantizer) rollup(id uint32, e *entry) Rollup {
	var vals [nFields]float64
	for i, u := range e.v {
		if e.flags&(flagExact|flagFlat) != 0 {
			vals[i] = math.Float64frombits(u)
		} else {
			vals[i] = q.value(int64(u))
		}
	}
	r := Rollup{ID: id, Count: e.count, Sum: vals[fSum], Min: vals[fMin], Max: vals[fMax], First: vals[fFirst], Last: vals[fLast]}
	if e.flags&flagExact == 0 {
		r.Sum = vals[fSum] * float64(e.count) // the mean, or the flat value
	}
	if e.flags&(flagCounter|flagLevel) != 0 {
		r.Last = e.raw
	}
	if e.flags&flagNoFirst != 0 {
		r.First = math.NaN()
	}
	if e.flags&flagQuantiles != 0 {
		r.Quantiles = []float64{vals[fQ50], vals[fQ90], vals[fQ99]}
	}
	return r
}

// quantized tells whether an entry's values are codes.
func (e *entry) quantized() bool { return e.count > 0 && e.flags&(flagExact|flagFlat) == 0 }

// levelBucket is the context of a level: how far apart the base's minimum
// and maximum were (a series that swings is hard to predict).
func levelBucket(b *entry) int {
	if !b.quantized() {
		return noBase
	}
	return bucket(int64(b.v[fMax]) - int64(b.v[fMin]))
}

// spreadPrediction predicts field i of a quantized entry e whose level (and
// maximum, for the upper quantiles) is known: the same distance from the
// level (from the maximum for p90 and p99) as in the base, when the base
// had both values; else the level (the maximum), or pred's (a gauge's
// first against the base's last). It also returns the context bucket: the
// base's distance.
func spreadPrediction(i int, pred *[nFields]int64, e, b *entry) (int64, int) {
	ref := fSum
	if i == fQ90 || i == fQ99 {
		ref = fMax
	}
	if i != fFirst && b.quantized() && b.v[i] != 0 && b.v[ref] != 0 && e.v[ref] != 0 {
		d := int64(b.v[i]) - int64(b.v[ref])
		return int64(e.v[ref]) + d, bucket(d)
	}
	if ref == fMax {
		return int64(e.v[fMax]), noBase
	}
	return pred[i], noBase
}
