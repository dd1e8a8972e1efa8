package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// The per-series part of a body — flags, counts, values and counters' raw
// values — is a run of symbols that pack and unpack walk in the same
// order. A symWriter/symReader pair codes them either as bytes in
// sections, for zstd (WireOptions.Model off), or with the range coder and
// a context model (on), where every symbol is coded in a context chosen
// from what both ends already know.

// ctxID names a context of the model: what kind of symbol, and for values
// which statistic, whether the series is a counter, and how far apart the
// base window's statistics were.
type ctxID int

const nBuckets = 12 // spread buckets: bit length of a code distance, 0–10, and 11 for no quantized base

const (
	cFlags     ctxID = iota // flags XOR the base's
	cCount                  // count delta against the previous series' count delta
	cFlat                   // a flat value's XOR tag
	cSpreadTag              // 0: every statistic equals the level
	cRawTag                 // how a counter's raw value travels
	cRawLen                 // length of an exact raw value
	cInc                    // a counter's increment code
	cLevel                  // + kind*nBuckets + bucket: the level (window mean)
	cSpread    = cLevel + 2*nBuckets
	nCtx       = int(cSpread) + (nFields-1)*2*nBuckets // + ((field-1)*2 + kind)*nBuckets + bucket
)

// Sections of the byte form the symbols go to.
const (
	secFlags   = 3
	secCounts  = 4
	secLevels  = 5
	secSpreads = 6
	secRaws    = 7
)

// bucket is the context of a code distance: its bit length, at most 10.
func bucket(d int64) int {
	if d < 0 {
		d = -d
	}
	return min(bits.Len64(uint64(d)), 10)
}

const noBase = nBuckets - 1

func levelCtx(counter bool, b int) ctxID {
	k := 0
	if counter {
		k = 1
	}
	return cLevel + ctxID(k*nBuckets+b)
}

func spreadCtx(field int, counter bool, b int) ctxID {
	k := 0
	if counter {
		k = 1
	}
	return cSpread + ctxID(((field-1)*2+k)*nBuckets+b)
}

type symWriter interface {
	flags(x uint8)
	count(d int64)
	flat(x uint64)
	exact(sec int, u uint64)
	code(c ctxID, k, p int64)
	tag(c ctxID, t byte)
	raw(p []byte)
}

type symReader interface {
	flags() uint8
	count() int64
	flat() uint64
	exact(sec int) uint64
	code(c ctxID, p int64) int64
	tag(c ctxID) byte
	raw() *reader
	// done reports the first error, or bytes left over.
	done() error
}

// The byte form: each symbol appended to its section.
type byteWriter struct {
	q   quantizer
	sec *[nSections][]byte
}

func (w byteWriter) flags(x uint8) { w.sec[secFlags] = append(w.sec[secFlags], x) }
func (w byteWriter) count(d int64) { w.sec[secCounts] = binary.AppendVarint(w.sec[secCounts], d) }
func (w byteWriter) flat(x uint64) { w.sec[secLevels] = appendXOR(w.sec[secLevels], x) }
func (w byteWriter) exact(s int, u uint64) {
	w.sec[s] = binary.BigEndian.AppendUint64(w.sec[s], u)
}
func (w byteWriter) code(c ctxID, k, p int64) {
	s := ctxSection(c)
	w.sec[s] = w.q.appendCode(w.sec[s], k, p)
}
func (w byteWriter) tag(c ctxID, t byte) { s := ctxSection(c); w.sec[s] = append(w.sec[s], t) }
func (w byteWriter) raw(p []byte)        { w.sec[secRaws] = append(w.sec[secRaws], p...) }

func ctxSection(c ctxID) int {
	switch {
	case c == cSpreadTag || c >= cSpread:
		return secSpreads
	case c >= cLevel:
		return secLevels
	}
	return secRaws // cRawTag, cInc
}

type byteReader struct {
	q   quantizer
	sec *[nSections]*reader
}

func (r byteReader) flags() uint8                { return r.sec[secFlags].byte1() }
func (r byteReader) count() int64                { return r.sec[secCounts].varint() }
func (r byteReader) flat() uint64                { return r.sec[secLevels].xor() }
func (r byteReader) exact(s int) uint64          { return r.sec[s].u64() }
func (r byteReader) code(c ctxID, p int64) int64 { return r.q.readCode(r.sec[ctxSection(c)], p) }
func (r byteReader) tag(c ctxID) byte            { return r.sec[ctxSection(c)].byte1() }
func (r byteReader) raw() *reader                { return r.sec[secRaws] }
func (r byteReader) done() error {
	for i := secFlags; i <= secRaws; i++ {
		rd := r.sec[i]
		if rd.err != nil {
			return fmt.Errorf("values section %d: %w", i, rd.err)
		}
		if len(rd.p) != 0 {
			return fmt.Errorf("values section %d: %d bytes left over", i, len(rd.p))
		}
	}
	return nil
}

// The model form: every symbol through one range coder, in its context.
// A code is coded as "the value is 0" or its distance from the prediction
// (zero flag, magnitude, sign); the count as its delta's change from the
// series before (windows close for all series at once, so mostly 0).
type modelWriter struct {
	q         quantizer
	rc        rcEncoder
	m         []prob
	prevCount int64
}

func (w *modelWriter) model(c ctxID) intModel { return intModel{w.m, int(c) * intModelLen} }

func (w *modelWriter) flags(x uint8) { w.model(cFlags).putUint(&w.rc, uint64(x)) }
func (w *modelWriter) count(d int64) {
	w.model(cCount).putInt(&w.rc, d-w.prevCount)
	w.prevCount = d
}
func (w *modelWriter) flat(x uint64) {
	m := w.model(cFlat)
	if x == 0 {
		m.putUint(&w.rc, 0)
		return
	}
	lz, tz := bits.LeadingZeros64(x)/8, bits.TrailingZeros64(x)/8
	m.putUint(&w.rc, uint64(lz<<4|tz)+1)
	w.rc.direct(x>>(8*tz), 8*(8-lz-tz))
}
func (w *modelWriter) exact(_ int, u uint64) { w.rc.direct(u, 64) }
func (w *modelWriter) code(c ctxID, k, p int64) {
	m := w.model(c)
	if k == 0 {
		w.rc.bit(m.t, m.off+pValueZero, 0)
		return
	}
	w.rc.bit(m.t, m.off+pValueZero, 1)
	if p == 0 {
		p = w.q.offset
	}
	m.putInt(&w.rc, k-p)
}
func (w *modelWriter) tag(c ctxID, t byte) { w.model(c).putUint(&w.rc, uint64(t)) }
func (w *modelWriter) raw(p []byte) {
	w.model(cRawLen).putUint(&w.rc, uint64(len(p)))
	for _, b := range p {
		w.rc.direct(uint64(b), 8)
	}
}

// maxRawBytes bounds an exact raw value's bytes (tag, 8 bytes, increment).
const maxRawBytes = 24

type modelReader struct {
	q         quantizer
	rc        rcDecoder
	m         []prob
	prevCount int64
	err       error
}

func (r *modelReader) model(c ctxID) intModel { return intModel{r.m, int(c) * intModelLen} }

func (r *modelReader) flags() uint8 {
	v := r.model(cFlags).getUint(&r.rc)
	if v > 0xff {
		r.fail("flags %d out of range", v)
	}
	return uint8(v)
}
func (r *modelReader) count() int64 {
	r.prevCount += r.model(cCount).getInt(&r.rc)
	return r.prevCount
}
func (r *modelReader) flat() uint64 {
	t := r.model(cFlat).getUint(&r.rc)
	if t == 0 {
		return 0
	}
	lz, tz := int(t-1)>>4, int(t-1)&0xf
	if t > 0x100 || lz+tz >= 8 {
		r.fail("bad xor tag %#x", t)
		return 0
	}
	return r.rc.direct(8*(8-lz-tz)) << (8 * tz)
}
func (r *modelReader) exact(int) uint64 { return r.rc.direct(64) }
func (r *modelReader) code(c ctxID, p int64) int64 {
	m := r.model(c)
	if r.rc.bit(m.t, m.off+pValueZero) == 0 {
		return 0
	}
	if p == 0 {
		p = r.q.offset
	}
	return p + m.getInt(&r.rc)
}
func (r *modelReader) tag(c ctxID) byte {
	v := r.model(c).getUint(&r.rc)
	if v > 0xff {
		r.fail("tag %d out of range", v)
	}
	return byte(v)
}
func (r *modelReader) raw() *reader {
	n := r.model(cRawLen).getUint(&r.rc)
	if n > maxRawBytes {
		r.fail("exact raw value of %d bytes", n)
		return &reader{}
	}
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.rc.direct(8))
	}
	return &reader{p: p}
}
func (r *modelReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, a...)
	}
}
func (r *modelReader) done() error {
	switch {
	case r.err != nil:
		return r.err
	case r.rc.over > 0:
		return errors.New("values: range-coded stream truncated")
	case len(r.rc.p) != 0:
		return fmt.Errorf("values: %d bytes left over", len(r.rc.p))
	}
	return nil
}
