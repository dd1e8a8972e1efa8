package codec

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
)

// Window is one stored window of one series: statistics of the samples
// whose times fall in (End-Width, End].
type Window struct {
	End, Width                 int64 // Unix ms
	Count                      uint32
	Sum, Min, Max, First, Last float64
	P50, P90, P99              float64
	HasQuantiles               bool
}

// A chunk is what the aggregator's regional store keeps per series and
// hour: any concatenation of segments and records. Both are lossless, bit
// for bit, for every field of every window (NaN payloads, ±Inf, -0
// included); they are small because most values come out of the wire
// decoder and sit exactly on its quantization grid (quantizer, precision
// [DefaultWireOptions]), so a grid code usually says the same as the
// float64 bits.
//
// Every segment or record starts with a tag byte:
//
//	bits 7–4  1: segment (format 1), 2: record (format 1), 3 and 4: plain
//	          record (plainrecord.go); others refused
//	bits 1–0  the exp variant grid values are computed with (gridExp)
//	bit  2    End of the first window is a multiple of its Width
//	bit  3    Width of the first window is 60 s (else a uvarint follows)
//
// then the header, as varints: [Width], a segment's window count − 1
// (uvarint; a record holds one window), the first window's End (uvarint
// End/Width when aligned, else varint End) and its Count (uvarint). Then
// the windows, range-coded (rcEncoder, LZMA's coder, without its leading
// zero byte) with adaptive models that start afresh in every segment or
// record, from priors that expect each window to be like the one before.
// A segment's coded bytes end themselves (no length); a record's follow
// a uvarint length, with the coder's flush trimmed to the fewest bytes
// (the decoder reads zeros past them). Each window is coded against
// the previous one (the first against a virtual window one Width before
// it with the header's Count, zero statistics and First NaN):
//
//	Width     bit same as previous, else the uvarint
//	End       bit previous End + Width, else the varint difference
//	Count     bit same as previous, else the varint difference
//	quantiles HasQuantiles XOR the previous window's
//	stats     Sum, Min, Max, P50, P90, P99, Last, First, each a kind
//	          (unary, in the context of the field and its kind in the
//	          previous window) and what the kind needs:
//	  same    the previous window's bits
//	  ref     Min: Sum/Count; the others: this window's Min
//	  grid    a grid code against a prediction (varint), and a nudge of
//	          a few ulps: Sum is value(k)·Count, the others value(k)
//	  inc     the previous window's value + value(k), k against the
//	          previous increment's code, and a nudge (counters' Last)
//	  xor     float64 bits XOR the previous window's: leading zeros,
//	          significant length, the bits between the leading and
//	          trailing ones
//
// Grid codes are predicted from the previous window: Sum (the mean) from
// the previous mean, the others at the same distance from this window's
// mean as in the previous window. The nudge makes the format independent
// of which math.Exp made the values: decoders compute value(k) with the
// portable variant the tag names, and an encoder on a machine whose
// math.Exp matches none of them still round-trips, at a few bits more.

// Tags of a chunk's parts.
const (
	chunkSegment   = 0x10
	chunkRecord    = 0x20
	chunkKindMask  = 0xf0
	chunkAligned   = 0x04
	chunkMinute    = 0x08
	chunkExpMask   = 0x03
	chunkPrecision = 0.01 // the wire's default: DefaultWireOptions().Precision

	// MaxSegmentWindows bounds the windows of one segment (AppendSegment
	// splits longer runs), so a corrupt count cannot make DecodeChunk
	// allocate more than that per segment.
	MaxSegmentWindows = 1 << 16
)

// The statistics of a window in coding order.
const (
	cfSum = iota
	cfMin
	cfMax
	cfP50
	cfP90
	cfP99
	cfLast
	cfFirst
	nChunkFields
)

// Kinds of a coded statistic.
const (
	kSame = iota
	kRef
	kGrid
	kInc
	kXOR
	nKinds
)

// The model table: binary probabilities, then intModels.
const (
	cpWidth = iota
	cpEnd
	cpCount
	cpQuant                                           // + previous HasQuantiles
	cpKind  = cpQuant + 2                             // + (field*nKinds + previous kind)*(nKinds-1) + step
	cpInts  = cpKind + nChunkFields*nKinds*(nKinds-1) // intModels from here
)

// intModels of the table, each intModelLen long.
const (
	cmWidth = iota
	cmEnd
	cmCount
	cmNudge
	cmInc
	cmLZ
	cmSig
	cmCode       // + field
	nChunkModels = cmCode + nChunkFields
	chunkTable   = cpInts + nChunkModels*intModelLen
)

func chunkModel(t []prob, m int) intModel { return intModel{t, cpInts + m*intModelLen} }

// AppendRecord appends w as a self-contained record: a plain record
// (plainrecord.go), or a range-coded one when w has quantile values
// without HasQuantiles (a plain record would drop them).
func AppendRecord(dst []byte, w *Window) []byte {
	if !w.HasQuantiles && (w.P50 != 0 || w.P90 != 0 || w.P99 != 0 || math.Signbit(w.P50) || math.Signbit(w.P90) || math.Signbit(w.P99)) {
		return appendChunkPart(dst, chunkRecord, []Window{*w})
	}
	return appendPlainRecord(dst, w)
}

// AppendSegment appends ws (sorted by End ascending, ends unique) as one
// compressed segment (several when ws is longer than MaxSegmentWindows).
func AppendSegment(dst []byte, ws []Window) []byte {
	for len(ws) > 0 {
		n := min(len(ws), MaxSegmentWindows)
		dst = appendChunkPart(dst, chunkSegment, ws[:n])
		ws = ws[n:]
	}
	return dst
}

// chunkCoder is what both ends keep while they code one part.
type chunkCoder struct {
	g    grid
	t    [chunkTable]prob
	prev Window
	kind [nChunkFields]int
	// lastK are the last grid codes of each field (valid where haveK), and
	// lastInc the last increment's.
	lastK   [nChunkFields]int64
	haveK   [nChunkFields]bool
	lastInc int64
}

// chunkPriors is the models' starting table, built once (newChunkCoder
// copies it: building it per part cost more than coding a record).
var chunkPriors = sync.OnceValue(func() *[chunkTable]prob {
	var c chunkCoder
	c.initPriors()
	return &c.t
})

// machineExp is probeExp, probed once per process.
var machineExp = sync.OnceValue(probeExp)

// coders recycles chunkCoders (a model table is about 5 KB).
var coders = sync.Pool{New: func() any { return new(chunkCoder) }}

func newChunkCoder(g grid, first *Window) *chunkCoder {
	c := coders.Get().(*chunkCoder)
	*c = chunkCoder{g: g, t: *chunkPriors()}
	c.start(first)
	return c
}

func (c *chunkCoder) initPriors() {
	for i := range c.t {
		c.t[i] = probHalf
	}
	// Priors: a window is like the one before (same width, next End, same
	// count, a field coded as it was), and a grid value needs no nudge.
	const likely, unlikely = probOne - probOne/16, probOne / 16
	for _, i := range [...]int{cpWidth, cpEnd, cpCount, cpQuant, cpQuant + 1, cpInts + cmNudge*intModelLen + pZero} {
		c.t[i] = likely
	}
	for f := range nChunkFields {
		for pk := range nKinds {
			ctx := cpKind + (f*nKinds+pk)*(nKinds-1)
			for s := range min(pk+1, nKinds-1) {
				c.t[ctx+s] = unlikely
			}
			if pk < nKinds-1 {
				c.t[ctx+pk] = likely
			}
		}
	}
}

func (c *chunkCoder) start(first *Window) {
	g := c.g
	c.prev = Window{End: first.End - first.Width, Width: first.Width, Count: first.Count, First: math.NaN()}
	c.lastInc = g.offset
	for f := range c.kind {
		c.kind[f] = kGrid // against zeros, values are on the grid or not
	}
	c.kind[cfFirst] = kSame // (NaN: not sent)
}

func appendChunkPart(dst []byte, kind byte, ws []Window) []byte {
	g := newGrid(machineExp())
	w0 := &ws[0]
	dst = appendPartHeader(dst, kind, g, w0, len(ws))

	c := newChunkCoder(g, w0)
	defer coders.Put(c)
	var e rcEncoder
	e.reset(nil)
	for i := range ws {
		c.put(&e, &ws[i])
	}
	if kind == chunkSegment {
		out := e.finish()
		return append(dst, out[1:]...) // the first byte is always 0
	}
	out := finishShort(&e)[1:]
	dst = binary.AppendUvarint(dst, uint64(len(out)))
	return append(dst, out...)
}

// appendPartHeader appends a part's tag and header: [Width], a segment's
// window count − 1, the first End and Count (see the format above).
func appendPartHeader(dst []byte, kind byte, g grid, w0 *Window, n int) []byte {
	tag := kind | byte(g.variant)
	if w0.Width == 60_000 {
		tag |= chunkMinute
	}
	aligned := w0.Width > 0 && w0.End%w0.Width == 0
	if aligned {
		tag |= chunkAligned
	}
	dst = append(dst, tag)
	if w0.Width != 60_000 {
		dst = binary.AppendUvarint(dst, uint64(w0.Width))
	}
	if kind == chunkSegment {
		dst = binary.AppendUvarint(dst, uint64(n-1))
	}
	if aligned {
		dst = binary.AppendVarint(dst, w0.End/w0.Width)
	} else {
		dst = binary.AppendVarint(dst, w0.End)
	}
	return binary.AppendUvarint(dst, uint64(w0.Count))
}

// finishShort flushes e with the value of its final range that has the
// most trailing zero bytes, and drops them: a decoder reading past the
// end reads zeros.
func finishShort(e *rcEncoder) []byte {
	for z := 4; z > 0; z-- {
		m := uint64(1)<<(8*z) - 1
		if v := (e.low + m) &^ m; v < e.low+uint64(e.rng) {
			e.low = v
			break
		}
	}
	out := e.finish()
	for len(out) > 1 && out[len(out)-1] == 0 {
		out = out[:len(out)-1]
	}
	return out
}

// fieldsOf points at a window's statistics in coding order.
func fieldsOf(w *Window) [nChunkFields]*float64 {
	return [nChunkFields]*float64{&w.Sum, &w.Min, &w.Max, &w.P50, &w.P90, &w.P99, &w.Last, &w.First}
}

func (c *chunkCoder) put(e *rcEncoder, w *Window) {
	t := c.t[:]
	p := &c.prev
	if w.Width == p.Width {
		e.bit(t, cpWidth, 0)
	} else {
		e.bit(t, cpWidth, 1)
		chunkModel(t, cmWidth).putUint(e, uint64(w.Width))
	}
	if d := w.End - p.End - w.Width; d == 0 {
		e.bit(t, cpEnd, 0)
	} else {
		e.bit(t, cpEnd, 1)
		chunkModel(t, cmEnd).putInt(e, d)
	}
	if w.Count == p.Count {
		e.bit(t, cpCount, 0)
	} else {
		e.bit(t, cpCount, 1)
		chunkModel(t, cmCount).putInt(e, int64(w.Count)-int64(p.Count))
	}
	e.bit(t, cpQuant+b2i(p.HasQuantiles), b2u(w.HasQuantiles != p.HasQuantiles))

	cur, old := fieldsOf(w), fieldsOf(p)
	var level int64
	haveLevel := false
	for f := range nChunkFields {
		v, pv := *cur[f], *old[f]
		kind, k, nudge := c.choose(f, w, v, pv, level, haveLevel)
		ctx := cpKind + (f*nKinds+c.kind[f])*(nKinds-1)
		for s := range kind {
			e.bit(t, ctx+s, 1)
		}
		if kind < nKinds-1 {
			e.bit(t, ctx+kind, 0)
		}
		switch kind {
		case kGrid:
			chunkModel(t, cmCode+f).putInt(e, k-c.predict(f, level, haveLevel))
			chunkModel(t, cmNudge).putInt(e, nudge)
			if f == cfSum && k != 0 {
				level, haveLevel = k, true
			}
			c.lastK[f], c.haveK[f] = k, true
		case kInc:
			chunkModel(t, cmInc).putInt(e, k-c.lastInc)
			chunkModel(t, cmNudge).putInt(e, nudge)
			c.lastInc = k
		case kXOR:
			x := math.Float64bits(v) ^ math.Float64bits(pv)
			lz, tz := bits.LeadingZeros64(x), bits.TrailingZeros64(x)
			sig := 64 - lz - tz // ≥ 1: its top bit is 1 and implied
			chunkModel(t, cmLZ).putUint(e, uint64(lz))
			chunkModel(t, cmSig).putUint(e, uint64(sig-1))
			e.direct(x>>uint(tz), sig-1)
		}
		c.kind[f] = kind
	}
	c.prev = *w
}

// choose picks how field f of w (value v, the previous window's pv) is
// coded: the first kind that reproduces v bit for bit, with the code and
// nudge it needs.
func (c *chunkCoder) choose(f int, w *Window, v, pv float64, level int64, haveLevel bool) (kind int, k, nudge int64) {
	vb := math.Float64bits(v)
	if vb == math.Float64bits(pv) {
		return kSame, 0, 0
	}
	switch f {
	case cfSum:
	case cfMin:
		if vb == math.Float64bits(w.Sum/float64(w.Count)) {
			return kRef, 0, 0
		}
	default:
		if vb == math.Float64bits(w.Min) {
			return kRef, 0, 0
		}
	}
	mean := v
	if f == cfSum && w.Count > 0 {
		mean = v / float64(w.Count)
	}
	if k0, ok := c.g.q.code(mean); ok {
		for _, k := range [...]int64{k0, k0 - 1, k0 + 1} {
			g := c.g.value(k)
			if f == cfSum {
				g *= float64(w.Count)
			}
			if d, ok := ulps(vb, g); ok {
				return kGrid, k, d
			}
		}
	}
	if f == cfLast && v > pv {
		if k0, ok := c.g.q.code(v - pv); ok && k0 > 0 {
			for _, k := range [...]int64{k0, k0 - 1, k0 + 1} {
				if d, ok := ulps(vb, pv+c.g.value(k)); ok {
					return kInc, k, d
				}
			}
		}
	}
	return kXOR, 0, 0
}

// maxNudge bounds the ulps between a grid value and the value it stands
// for.
const maxNudge = 4

// ulps returns how many ulps v (bits) is above g, when at most maxNudge
// apart with the same sign.
func ulps(vb uint64, g float64) (int64, bool) {
	gb := math.Float64bits(g)
	if math.IsNaN(g) || math.IsInf(g, 0) || gb>>63 != vb>>63 {
		return 0, false
	}
	d := int64(vb - gb)
	if d < -maxNudge || d > maxNudge {
		return 0, false
	}
	return d, true
}

// predict is the prediction of field f's grid code: the mean from the
// previous mean; the others as far from this window's mean as they were
// from the previous one's, else the field's last code, else the mean,
// else the code of 1.
func (c *chunkCoder) predict(f int, level int64, haveLevel bool) int64 {
	switch {
	case f == cfSum && c.haveK[cfSum]:
		return c.lastK[cfSum]
	case f == cfSum:
		return c.g.offset
	case haveLevel && c.haveK[f] && c.haveK[cfSum] && c.lastK[cfSum] != 0 && c.lastK[f] != 0:
		return level + c.lastK[f] - c.lastK[cfSum]
	case c.haveK[f]:
		return c.lastK[f]
	case haveLevel:
		return level
	}
	return c.g.offset
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func b2u(b bool) uint64 { return uint64(b2i(b)) }
