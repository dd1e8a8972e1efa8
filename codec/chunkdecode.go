package codec

import (
	"fmt"
	"math"
	"slices"
)

// get is put's inverse.
func (c *chunkCoder) get(d *rcDecoder, w *Window) {
	t := c.t[:]
	p := &c.prev
	w.Width = p.Width
	if d.bit(t, cpWidth) == 1 {
		w.Width = int64(chunkModel(t, cmWidth).getUint(d))
	}
	w.End = p.End + w.Width
	if d.bit(t, cpEnd) == 1 {
		w.End += chunkModel(t, cmEnd).getInt(d)
	}
	w.Count = p.Count
	if d.bit(t, cpCount) == 1 {
		w.Count = uint32(int64(p.Count) + chunkModel(t, cmCount).getInt(d))
	}
	w.HasQuantiles = p.HasQuantiles != (d.bit(t, cpQuant+b2i(p.HasQuantiles)) == 1)

	cur, old := fieldsOf(w), fieldsOf(p)
	var level int64
	haveLevel := false
	for f := range nChunkFields {
		ctx := cpKind + (f*nKinds+c.kind[f])*(nKinds-1)
		kind := 0
		for kind < nKinds-1 && d.bit(t, ctx+kind) == 1 {
			kind++
		}
		pv := *old[f]
		var v float64
		switch kind {
		case kSame:
			v = pv
		case kRef:
			if f == cfMin {
				v = w.Sum / float64(w.Count)
			} else {
				v = w.Min
			}
		case kGrid:
			k := c.predict(f, level, haveLevel) + chunkModel(t, cmCode+f).getInt(d)
			g := c.g.value(k)
			if f == cfSum {
				g *= float64(w.Count)
				if k != 0 {
					level, haveLevel = k, true
				}
			}
			v = nudged(g, chunkModel(t, cmNudge).getInt(d))
			c.lastK[f], c.haveK[f] = k, true
		case kInc:
			k := c.lastInc + chunkModel(t, cmInc).getInt(d)
			v = nudged(pv+c.g.value(k), chunkModel(t, cmNudge).getInt(d))
			c.lastInc = k
		case kXOR:
			lz := min(chunkModel(t, cmLZ).getUint(d), 63)
			sig := min(chunkModel(t, cmSig).getUint(d)+1, 64-lz)
			tz := 64 - lz - sig
			x := (1<<(sig-1) | d.direct(int(sig-1))) << tz
			v = math.Float64frombits(math.Float64bits(pv) ^ x)
		}
		*cur[f] = v
		c.kind[f] = kind
	}
	c.prev = *w
}

func nudged(g float64, d int64) float64 {
	return math.Float64frombits(math.Float64bits(g) + uint64(d))
}

// DecodeChunk decodes a chunk value (any concatenation of segments and
// records), appending to dst. The result is sorted by End, one window per
// End: of several with the same End the one appended last in p wins;
// repeats counts the windows dropped as repeats of an End. Corrupt input
// returns an error wrapping ErrMalformed naming the offset.
func DecodeChunk(dst []Window, p []byte) (ws []Window, repeats int, err error) {
	start := len(dst)
	for off := 0; off < len(p); {
		n, err := decodeChunkPart(&dst, p, off)
		if err != nil {
			return dst[:start], 0, fmt.Errorf("%w: chunk at offset %d: %w", ErrMalformed, off, err)
		}
		off = n
	}
	// Stable: equal Ends stay in the order they were appended; keep the last.
	part := dst[start:]
	slices.SortStableFunc(part, func(a, b Window) int {
		switch {
		case a.End < b.End:
			return -1
		case a.End > b.End:
			return 1
		}
		return 0
	})
	out := part[:0]
	for i := range part {
		if i+1 < len(part) && part[i+1].End == part[i].End {
			repeats++
			continue
		}
		out = append(out, part[i])
	}
	return dst[:start+len(out)], repeats, nil
}

// DecodeChunkAll decodes a chunk value like DecodeChunk but returns every
// window in the order appended, repeats of an End included (to tell a
// window stored twice from one stored once).
func DecodeChunkAll(dst []Window, p []byte) ([]Window, error) {
	start := len(dst)
	for off := 0; off < len(p); {
		n, err := decodeChunkPart(&dst, p, off)
		if err != nil {
			return dst[:start], fmt.Errorf("%w: chunk at offset %d: %w", ErrMalformed, off, err)
		}
		off = n
	}
	return dst, nil
}

// decodeChunkPart decodes the segment or record at p[off:] onto *dst and
// returns the offset after it.
func decodeChunkPart(dst *[]Window, p []byte, off int) (int, error) {
	r := &reader{p: p[off:]}
	tag := r.byte1()
	kind, variant := tag&chunkKindMask, int(tag&chunkExpMask)
	if kind != chunkSegment && kind != chunkRecord && kind != chunkPlain && kind != chunkPlainQ || variant >= nExpVariants {
		return 0, fmt.Errorf("unknown tag %#x", tag)
	}
	if kind == chunkPlain || kind == chunkPlainQ {
		if err := decodePlainRecord(dst, r, tag); err != nil {
			return 0, err
		}
		return len(p) - len(r.p), nil
	}
	var w0 Window
	w0.Width = 60_000
	if tag&chunkMinute == 0 {
		w0.Width = int64(r.uvarint())
	}
	n := uint64(1)
	if kind == chunkSegment {
		n = r.uvarint() + 1
	}
	w0.End = r.varint()
	if tag&chunkAligned != 0 {
		w0.End *= w0.Width
	}
	c := r.uvarint()
	if r.err != nil {
		return 0, fmt.Errorf("header: %w", r.err)
	}
	// A window costs at least a quarter bit (a dozen decisions at the
	// coder's most skewed probability): 64 per byte is out of reach.
	if n > MaxSegmentWindows || n > 64*uint64(len(r.p)+1) || c > math.MaxUint32 {
		return 0, fmt.Errorf("header: %d windows in %d bytes, count %d", n, len(r.p), c)
	}
	w0.Count = uint32(c)
	coded, slack := r.p, 0 // a segment's coded windows end themselves
	if kind == chunkRecord {
		// A record's, with their length, its trailing zero bytes dropped
		// (one window reads a bounded number past them).
		coded, slack = r.bytes(r.uvarint()), math.MaxInt
		if r.err != nil {
			return 0, fmt.Errorf("record: %w", r.err)
		}
	}
	body := len(p) - len(coded)
	cc := newChunkCoder(newGrid(variant), &w0)
	defer coders.Put(cc)
	d := rcDecoder{p: coded, rng: 0xFFFFFFFF}
	for range 4 {
		d.code = d.code<<8 | uint32(d.next())
	}
	for range n {
		var w Window
		cc.get(&d, &w)
		if d.over > slack {
			return 0, fmt.Errorf("windows end %d bytes past the input", d.over)
		}
		*dst = append(*dst, w)
	}
	if kind == chunkRecord {
		if len(d.p) != 0 {
			return 0, fmt.Errorf("%d bytes after the record's window", len(d.p))
		}
		return len(p) - len(r.p), nil
	}
	return body + len(coded) - len(d.p), nil
}
