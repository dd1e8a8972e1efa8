package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Plain records (format 3, tags 0x30 and 0x40) hold one window each, like
// range-coded records (format 2), without the range coder: an open hour
// is read by every query of it and written window by window, and a
// range-coded record cost about 2 µs to code either way, most of it
// models a single window never adapts. A plain record is a few bytes
// larger (about 25 B against 18 on the synthetic mix; sealing turns an
// hour's records into one segment either way) and about ten times faster.
//
//	tag       0x30 (no quantiles) or 0x40 (P50, P90, P99 present), with
//	          the exp variant, aligned and minute bits of every part
//	header    [Width] End Count, as in the other parts
//	kinds     two bits per statistic present, in coding order (Sum, Min,
//	          Max, [P50, P90, P99], Last, First), packed from the low
//	          bits of the first byte
//	values    per statistic, what its kind needs:
//	  ref     nothing: Sum +0; Min Sum/Count; the others Min (bit for bit)
//	  same    nothing: the bits of the statistic coded before it
//	  grid    uvarint zigzag(k)·9 + nudge+4: value(k) (Sum: ·Count) moved
//	          by nudge ulps
//	  raw     the float64 bits, 8 bytes little-endian
const (
	chunkPlain  = 0x30
	chunkPlainQ = 0x40
)

// Kinds of a plain record's statistic.
const (
	pkRef = iota
	pkSame
	pkGrid
	pkRaw
)

// appendPlainRecord appends w as a plain record.
func appendPlainRecord(dst []byte, w *Window) []byte {
	g := newGrid(machineExp())
	kind := byte(chunkPlain)
	if w.HasQuantiles {
		kind = chunkPlainQ
	}
	dst = appendPartHeader(dst, kind, g, w, 1)

	all, n := plainFields(w)
	fs := all[:n]
	var kinds [nChunkFields]int
	var codes [nChunkFields]uint64
	var packed uint16
	prev := uint64(math.MaxUint64) // no statistic before the first
	for i, f := range fs {
		v := *f.v
		vb := math.Float64bits(v)
		switch {
		case vb == math.Float64bits(plainRef(w, f.id)):
			kinds[i] = pkRef
		case i > 0 && vb == prev:
			kinds[i] = pkSame
		default:
			kinds[i] = pkRaw
			if k, d, ok := plainGrid(g, w, f.id, v); ok {
				kinds[i], codes[i] = pkGrid, uint64((k<<1)^(k>>63))*(2*maxNudge+1)+uint64(d+maxNudge)
			}
		}
		packed |= uint16(kinds[i]) << (2 * i)
		prev = vb
	}
	dst = append(dst, byte(packed))
	if len(fs) > 4 {
		dst = append(dst, byte(packed>>8))
	}
	for i, f := range fs {
		switch kinds[i] {
		case pkGrid:
			dst = binary.AppendUvarint(dst, codes[i])
		case pkRaw:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(*f.v))
		}
	}
	return dst
}

type plainField struct {
	id int // cf*
	v  *float64
}

// plainFields lists w's statistics in coding order: fs[:n].
func plainFields(w *Window) (fs [nChunkFields]plainField, n int) {
	if w.HasQuantiles {
		return [nChunkFields]plainField{{cfSum, &w.Sum}, {cfMin, &w.Min}, {cfMax, &w.Max}, {cfP50, &w.P50}, {cfP90, &w.P90}, {cfP99, &w.P99}, {cfLast, &w.Last}, {cfFirst, &w.First}}, 8
	}
	return [nChunkFields]plainField{{cfSum, &w.Sum}, {cfMin, &w.Min}, {cfMax, &w.Max}, {cfLast, &w.Last}, {cfFirst, &w.First}}, 5
}

// plainRef is the value a ref kind stands for (Sum and Min are coded
// before the others, so the decoder has them).
func plainRef(w *Window, id int) float64 {
	switch id {
	case cfSum:
		return 0
	case cfMin:
		return w.Sum / float64(w.Count)
	}
	return w.Min
}

// plainGrid finds a grid code and nudge that reproduce v.
func plainGrid(g grid, w *Window, id int, v float64) (k, nudge int64, ok bool) {
	mean := v
	if id == cfSum && w.Count > 0 {
		mean = v / float64(w.Count)
	}
	k0, ok := g.q.code(mean)
	if !ok {
		return 0, 0, false
	}
	vb := math.Float64bits(v)
	for _, k := range [...]int64{k0, k0 - 1, k0 + 1} {
		gv := g.value(k)
		if id == cfSum {
			gv *= float64(w.Count)
		}
		if d, ok := ulps(vb, gv); ok {
			return k, d, true
		}
	}
	return 0, 0, false
}

// decodePlainRecord decodes the plain record after its tag (r is past
// it) onto *dst.
func decodePlainRecord(dst *[]Window, r *reader, tag byte) error {
	var w Window
	w.HasQuantiles = tag&chunkKindMask == chunkPlainQ
	g := newGrid(int(tag & chunkExpMask))
	w.Width = 60_000
	if tag&chunkMinute == 0 {
		w.Width = int64(r.uvarint())
	}
	w.End = r.varint()
	if tag&chunkAligned != 0 {
		w.End *= w.Width
	}
	c := r.uvarint()
	if c > math.MaxUint32 {
		return fmt.Errorf("plain record: count %d", c)
	}
	w.Count = uint32(c)
	all, n := plainFields(&w)
	fs := all[:n]
	packed := uint16(r.byte1())
	if len(fs) > 4 {
		packed |= uint16(r.byte1()) << 8
	}
	prev := 0.0
	for i, f := range fs {
		var v float64
		switch (packed >> (2 * i)) & 3 {
		case pkRef:
			v = plainRef(&w, f.id)
		case pkSame:
			if i == 0 {
				return fmt.Errorf("plain record: the first statistic is 'same as before'")
			}
			v = prev
		case pkGrid:
			u := r.uvarint()
			z, d := u/(2*maxNudge+1), int64(u%(2*maxNudge+1))-maxNudge
			k := int64(z>>1) ^ -int64(z&1)
			gv := g.value(k)
			if f.id == cfSum {
				gv *= float64(w.Count)
			}
			v = nudged(gv, d)
		case pkRaw:
			b := r.bytes(8)
			if len(b) == 8 {
				v = math.Float64frombits(binary.LittleEndian.Uint64(b))
			}
		}
		*f.v = v
		prev = v
	}
	if r.err != nil {
		return fmt.Errorf("plain record: %w", r.err)
	}
	*dst = append(*dst, w)
	return nil
}
