package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// ErrCorrupt is returned for a minute block that does not decode.
var ErrCorrupt = errors.New("history: corrupt block")

// Value tags. Any tag with the high bit set is an XOR: 0x80 | lz<<4 | n,
// followed by the n (1–8) significant bytes of the XOR with the previous
// value's bits, lz (0–7) zero bytes above them.
const (
	tagSame   = 0x00 // same bits as the previous value
	tagIntDel = 0x01 // integral value: zigzag varint delta from the previous (integral) value follows
	tagXOR    = 0x80
)

// maxExact is the largest magnitude below which every integer is a float64.
const maxExact = 1 << 53

func integral(v float64) (int64, bool) {
	if v != math.Trunc(v) || math.Abs(v) >= maxExact || (v == 0 && math.Signbit(v)) {
		return 0, false
	}
	return int64(v), true
}

// appendBlock encodes samples (in time order, all within the minute that
// starts at base) after dst: uvarint count, then per sample the timestamp
// (first: uvarint offset from base; then zigzag delta-of-delta) and the
// value.
func appendBlock(dst []byte, base int64, ts []int64, vs []float64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ts)))
	var prevTS, prevDelta int64
	var prev float64
	for i, t := range ts {
		if i == 0 {
			dst = binary.AppendUvarint(dst, uint64(t-base))
		} else {
			d := t - prevTS
			dst = binary.AppendVarint(dst, d-prevDelta)
			prevDelta = d
		}
		prevTS = t
		dst = appendValue(dst, prev, vs[i])
		prev = vs[i]
	}
	return dst
}

func appendValue(dst []byte, prev, v float64) []byte {
	x := math.Float64bits(prev) ^ math.Float64bits(v)
	if x == 0 {
		return append(dst, tagSame)
	}
	lz := min(bits.LeadingZeros64(x)/8, 7)
	tz := bits.TrailingZeros64(x) / 8
	n := 8 - lz - tz
	if iv, ok := integral(v); ok {
		if ip, ok := integral(prev); ok {
			d := iv - ip
			// zigzag varint length ≤ the XOR's bytes: prefer the delta
			if zz := uint64(d<<1) ^ uint64(d>>63); varintLen(zz) <= n {
				dst = append(dst, tagIntDel)
				return binary.AppendUvarint(dst, zz)
			}
		}
	}
	dst = append(dst, byte(tagXOR|lz<<4|n))
	sig := x >> (8 * tz)
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(sig>>(8*i)))
	}
	return dst
}

func varintLen(u uint64) int { return (bits.Len64(u|1) + 6) / 7 }

// decodeBlock appends the samples of a block to ts and vs.
func decodeBlock(b []byte, base int64, ts []int64, vs []float64) ([]int64, []float64, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) { // every sample takes ≥ 2 bytes
		return ts, vs, fmt.Errorf("%w: count", ErrCorrupt)
	}
	b = b[k:]
	var prevTS, prevDelta int64
	var prev float64
	for i := range int(n) {
		if i == 0 {
			off, k := binary.Uvarint(b)
			if k <= 0 || off > 1<<40 {
				return ts, vs, fmt.Errorf("%w: sample 0 timestamp", ErrCorrupt)
			}
			prevTS = base + int64(off)
			b = b[k:]
		} else {
			dod, k := binary.Varint(b)
			if k <= 0 {
				return ts, vs, fmt.Errorf("%w: sample %d timestamp", ErrCorrupt, i)
			}
			prevDelta += dod
			prevTS += prevDelta
			b = b[k:]
		}
		if len(b) == 0 {
			return ts, vs, fmt.Errorf("%w: sample %d value missing", ErrCorrupt, i)
		}
		tag := b[0]
		b = b[1:]
		switch {
		case tag == tagSame:
		case tag == tagIntDel:
			zz, k := binary.Uvarint(b)
			if k <= 0 {
				return ts, vs, fmt.Errorf("%w: sample %d integer delta", ErrCorrupt, i)
			}
			b = b[k:]
			ip, ok := integral(prev)
			if !ok {
				return ts, vs, fmt.Errorf("%w: sample %d integer delta after a non-integral value", ErrCorrupt, i)
			}
			prev = float64(ip + (int64(zz>>1) ^ -int64(zz&1)))
		case tag&tagXOR != 0:
			lz, n := int(tag>>4&7), int(tag&0x0f)
			if n < 1 || lz+n > 8 || len(b) < n {
				return ts, vs, fmt.Errorf("%w: sample %d xor header %#x", ErrCorrupt, i, tag)
			}
			var sig uint64
			for _, c := range b[:n] {
				sig = sig<<8 | uint64(c)
			}
			b = b[n:]
			prev = math.Float64frombits(math.Float64bits(prev) ^ sig<<(8*(8-lz-n)))
		default:
			return ts, vs, fmt.Errorf("%w: sample %d tag %#x", ErrCorrupt, i, tag)
		}
		ts = append(ts, prevTS)
		vs = append(vs, prev)
	}
	if len(b) != 0 {
		return ts, vs, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(b))
	}
	return ts, vs, nil
}
