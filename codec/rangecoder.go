package codec

// A binary adaptive range coder in the manner of LZMA's (Igor Pavlov's
// public-domain rc): 32-bit range, 11-bit probabilities, carry propagation
// through a cached byte. Integer arithmetic only, so every architecture
// codes the same bytes.

const (
	probBits = 11
	probOne  = 1 << probBits
	probHalf = probOne / 2
	probMove = 5 // adaptation rate: p moves 1/32 of the way to each bit
	rcTop    = 1 << 24
)

// prob is the probability, in 1/probOne, that the next bit is 0.
type prob = uint16

// rcEncoder appends coded bits to out.
type rcEncoder struct {
	low       uint64
	rng       uint32
	cache     byte
	cacheSize int
	out       []byte
	// tally, when set (TrainWirePrior), counts the bits coded with each
	// probability of the table.
	tally [][2]uint64
}

func (e *rcEncoder) reset(dst []byte) {
	*e = rcEncoder{rng: 0xFFFFFFFF, cacheSize: 1, out: dst, tally: e.tally}
}

func (e *rcEncoder) shiftLow() {
	if uint32(e.low) < 0xFF000000 || e.low >= 1<<32 {
		carry := byte(e.low >> 32)
		c := e.cache
		for ; e.cacheSize > 0; e.cacheSize-- {
			e.out = append(e.out, c+carry)
			c = 0xFF
		}
		e.cache = byte(uint32(e.low) >> 24)
	}
	e.cacheSize++
	e.low = uint64(uint32(e.low) << 8)
}

// bit codes b (0 or 1) with probability t[i] and adapts it.
func (e *rcEncoder) bit(t []prob, i int, b uint64) {
	if e.tally != nil {
		e.tally[i][b]++
	}
	p := &t[i]
	bound := (e.rng >> probBits) * uint32(*p)
	if b == 0 {
		e.rng = bound
		*p += (probOne - *p) >> probMove
	} else {
		e.low += uint64(bound)
		e.rng -= bound
		*p -= *p >> probMove
	}
	for e.rng < rcTop {
		e.rng <<= 8
		e.shiftLow()
	}
}

// direct codes the low n bits of v, high first, each with probability 1/2.
func (e *rcEncoder) direct(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		e.rng >>= 1
		if v>>uint(i)&1 != 0 {
			e.low += uint64(e.rng)
		}
		for e.rng < rcTop {
			e.rng <<= 8
			e.shiftLow()
		}
	}
}

// finish flushes the coder and returns the bytes.
func (e *rcEncoder) finish() []byte {
	for range 5 {
		e.shiftLow()
	}
	return e.out
}

// rcDecoder reads what rcEncoder wrote. Past the end of its input it reads
// zero bytes and counts them in over, so a truncated or corrupt stream
// decodes to bounded garbage (which the caller's checks reject), never a
// panic or an endless loop.
type rcDecoder struct {
	p    []byte
	rng  uint32
	code uint32
	over int
}

func (d *rcDecoder) reset(p []byte) {
	*d = rcDecoder{p: p, rng: 0xFFFFFFFF}
	for range 5 {
		d.code = d.code<<8 | uint32(d.next())
	}
}

func (d *rcDecoder) next() byte {
	if len(d.p) == 0 {
		d.over++
		return 0
	}
	b := d.p[0]
	d.p = d.p[1:]
	return b
}

func (d *rcDecoder) bit(t []prob, i int) uint64 {
	p := &t[i]
	bound := (d.rng >> probBits) * uint32(*p)
	var b uint64
	if d.code < bound {
		d.rng = bound
		*p += (probOne - *p) >> probMove
	} else {
		d.code -= bound
		d.rng -= bound
		*p -= *p >> probMove
		b = 1
	}
	for d.rng < rcTop {
		d.rng <<= 8
		d.code = d.code<<8 | uint32(d.next())
	}
	return b
}

func (d *rcDecoder) direct(n int) uint64 {
	var v uint64
	for range n {
		d.rng >>= 1
		var b uint64
		if d.code >= d.rng {
			d.code -= d.rng
			b = 1
		}
		v = v<<1 | b
		for d.rng < rcTop {
			d.rng <<= 8
			d.code = d.code<<8 | uint32(d.next())
		}
	}
	return v
}

// An intModel codes unsigned integers: the bit length in unary, each step
// with its own adaptive probability, then the two bits below the leading
// one adaptively and the rest directly; and for signed values a zero flag
// and a sign. Its probabilities are a slice of a model table, so a trained
// prior initialises them all at once.
const (
	intLenSteps = 34 // bit lengths up to 33 adaptive; longer ones escape
	intMantCtx  = 3  // contexts of the two adaptive mantissa bits
	pValueZero  = 0  // a quantizer code: the value is 0 (symbols.go)
	pZero       = 1
	pSign       = 2
	pLen        = 3
	pMant       = pLen + intLenSteps
	intModelLen = pMant + intLenSteps*intMantCtx
)

type intModel struct {
	t   []prob // the whole table
	off int    // where this model's probabilities start
}

func (m intModel) putUint(e *rcEncoder, v uint64) {
	n := 0
	for x := v; x != 0; x >>= 1 {
		n++
	}
	for k := range min(n, intLenSteps-1) {
		e.bit(m.t, m.off+pLen+k, 1)
	}
	if n < intLenSteps-1 {
		e.bit(m.t, m.off+pLen+n, 0)
	} else {
		long := uint64(0) // 33, or 34 and more
		if n > intLenSteps-1 {
			long = 1
		}
		e.bit(m.t, m.off+pLen+intLenSteps-1, long)
		if long == 1 {
			e.direct(uint64(n-intLenSteps), 5)
		}
	}
	if n <= 1 {
		return
	}
	mant := m.off + pMant + min(n, intLenSteps-1)*intMantCtx
	b1 := v >> uint(n-2) & 1
	e.bit(m.t, mant+0, b1)
	if n >= 3 {
		e.bit(m.t, mant+1+int(b1), v>>uint(n-3)&1)
	}
	if n > 3 {
		e.direct(v, n-3)
	}
}

func (m intModel) getUint(d *rcDecoder) uint64 {
	n := 0
	for n < intLenSteps-1 && d.bit(m.t, m.off+pLen+n) == 1 {
		n++
	}
	if n == intLenSteps-1 && d.bit(m.t, m.off+pLen+intLenSteps-1) == 1 {
		n = intLenSteps + int(d.direct(5))
		if n > 64 {
			n = 64
		}
	}
	switch n {
	case 0:
		return 0
	case 1:
		return 1
	}
	mant := m.off + pMant + min(n, intLenSteps-1)*intMantCtx
	b1 := d.bit(m.t, mant+0)
	v := uint64(1)<<1 | b1
	if n >= 3 {
		v = v<<1 | d.bit(m.t, mant+1+int(b1))
	}
	if n > 3 {
		v = v<<uint(n-3) | d.direct(n-3)
	}
	return v
}

// putInt codes a signed value: zero flag, magnitude, sign.
func (m intModel) putInt(e *rcEncoder, v int64) {
	if v == 0 {
		e.bit(m.t, m.off+pZero, 0)
		return
	}
	e.bit(m.t, m.off+pZero, 1)
	a, s := uint64(v), uint64(0)
	if v < 0 {
		a, s = uint64(-v), 1
	}
	m.putUint(e, a-1)
	e.bit(m.t, m.off+pSign, s)
}

func (m intModel) getInt(d *rcDecoder) int64 {
	if d.bit(m.t, m.off+pZero) == 0 {
		return 0
	}
	a := m.getUint(d) + 1
	if d.bit(m.t, m.off+pSign) == 1 {
		return -int64(a)
	}
	return int64(a)
}
