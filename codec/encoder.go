package codec

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// Encoder packs one agent's batches into frames, each against the one
// before. It is not safe for concurrent use.
type Encoder struct {
	o     WireOptions
	st    *state
	since int // frames since the last keyframe
	zw    *zstd.Encoder
	raw   []byte
	key   bool        // the last frame was a keyframe
	table []prob      // the context model's probabilities (Model)
	tally [][2]uint64 // TrainWirePrior's counts, else nil
}

// NewEncoder returns an encoder whose first frame is a keyframe.
func NewEncoder(o WireOptions) (*Encoder, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	e := &Encoder{o: o}
	if o.Compress {
		var err error
		// SpeedFastest: with the context model on (the default) zstd
		// packs only what the model does not (keyframes' names), and the
		// better levels' match tables (two 4 MB copies with the
		// dictionary) were 60 % of the agent's live heap. Measured on 46
		// real 2 s windows (issue 18): delta frames identical (730 B),
		// keyframe 7064 → 7654 B (one per 360 frames: ~1.6 B per
		// host-minute), encoder heap 8966 → 1181 KB.
		zo := []zstd.EOption{zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1 << 17),
			zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true)}
		if o.ZstdDict {
			zo = append(zo, zstd.WithEncoderDictRaw(zdictID, zdict))
		}
		e.zw, err = zstd.NewWriter(nil, zo...)
		if err != nil {
			return nil, fmt.Errorf("codec: zstd encoder: %w", err)
		}
	}
	return e, nil
}

// Reset forgets the previous frame: the next one is a keyframe. Call it
// whenever the receiver may not get the frames in the order they were
// encoded (after a failed publish, before a resend).
func (e *Encoder) Reset() { e.st = nil }

// Keyframe tells whether the last frame Encode returned was a keyframe.
func (e *Encoder) Keyframe() bool { return e.key }

// Options returns the options e was made with.
func (e *Encoder) Options() WireOptions { return e.o }

// Encode appends the frame of b to dst. b must be valid (see
// Batch.Validate) and its Seq greater than that of the previous frame.
func (e *Encoder) Encode(dst []byte, b *Batch) ([]byte, error) {
	key := e.st == nil || !e.o.Delta || b.Seq <= e.st.seq || (e.o.Keyframe > 0 && e.since+1 >= e.o.Keyframe)
	base := e.st
	if key {
		base = newState(e.o.Precision)
		e.since = 0
	} else {
		e.since++
	}
	next, err := base.next(b, e.o.Dictionary, e.o.First)
	if err != nil {
		return dst, err
	}
	if !e.o.Dictionary {
		// Names again every frame, and only of the series in it.
		base.dict = map[uint32]*Series{}
		present := make(map[uint32]*Series, len(next.cur))
		for id := range next.cur {
			present[id] = next.dict[id]
		}
		next.dict = present
	}
	f := Frame{Version: FrameVersion, Agent: b.Agent, Site: b.Site, Host: b.Host, Seq: b.Seq,
		Start: b.Start, Width: b.Width, Late: b.Late, Precision: e.o.Precision}
	if !key {
		f.Base = base.seq
	}
	switch {
	case e.o.Model:
		body, rawLen := e.packModel(base, next, b.Events)
		f.Compression, f.Body, f.RawLen = BodyModel, body, uint32(rawLen)
	case e.zw != nil:
		e.raw = pack(e.raw[:0], base, next, b.Events, nil)
		f.Compression, f.Body, f.RawLen = BodyZstd, e.zw.EncodeAll(e.raw, nil), uint32(len(e.raw))
	default:
		e.raw = pack(e.raw[:0], base, next, b.Events, nil)
		f.Body, f.RawLen = e.raw, uint32(len(e.raw))
	}
	out, err := f.MarshalMsg(dst)
	if err != nil {
		return dst, fmt.Errorf("codec: encode frame seq %d: %w", b.Seq, err)
	}
	e.st, e.key = next, key
	return out, nil
}

// next is the state after batch b, given s before it.
func (s *state) next(b *Batch, dictionary, first bool) (*state, error) {
	n := &state{seq: b.Seq, q: s.q, dict: s.dict, cur: make(map[uint32]*entry, len(b.Rollups))}
	byID := make(map[uint32]*Series, len(b.Series))
	for i := range b.Series {
		byID[b.Series[i].ID] = &b.Series[i]
	}
	dictCopied := false
	for i := range b.Rollups {
		r := &b.Rollups[i]
		sr := byID[r.ID]
		if sr == nil {
			return nil, fmt.Errorf("%w: rollup refers to undefined series id %d", ErrMalformed, r.ID)
		}
		if old := n.dict[r.ID]; old == nil || !sameSeries(old, sr) {
			if !dictCopied {
				n.dict, dictCopied = cloneDict(s.dict), true
			}
			c := *sr
			c.Labels = slices.Clone(sr.Labels)
			n.dict[r.ID] = &c
		}
		n.cur[r.ID] = s.q.entry(r, sr.Kind, first)
	}
	return n, nil
}

func cloneDict(d map[uint32]*Series) map[uint32]*Series {
	c := make(map[uint32]*Series, len(d)+8)
	for k, v := range d {
		c[k] = v
	}
	return c
}

func sameSeries(a, b *Series) bool {
	return a.Name == b.Name && a.Kind == b.Kind && slices.Equal(a.Labels, b.Labels)
}

// The body is a run of sections, each a uvarint length and its bytes, so
// that similar bytes sit together for the compressor:
//
//	dict     new or changed dictionary entries: id delta, kind, name, labels
//	gone     ids of the base that are absent now (id deltas)
//	fresh    ids present now that the base did not have (id deltas)
//	flags    one byte per present series, ascending id
//	counts   zigzag count delta against the base
//	levels   per series: its first field against the base's (zigzag code
//	         delta, or 8 bytes of float64 bits XOR when exact)
//	spreads  the other fields against the first (codes) or the base's
//	         (exact); a series whose fields all equal its level writes a
//	         single 0
//	raws     a counter's raw last value: 0 same as the base, 1–4 scaled
//	         integer delta (scale 10^(tag−1)), 5 float64 bits XOR the base
//	events   the batch's events (appendEvents)
const nSections = 9

// With a model writer (WireOptions.Model) the per-series symbols
// (sections 3–7) go to it instead and those sections stay empty.
func pack(dst []byte, base, next *state, events []Event, model symWriter) []byte {
	var sec [nSections][]byte
	ids := make([]uint32, 0, len(next.cur))
	for id := range next.cur {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// Dictionary: every entry the base does not have (as is).
	var dictIDs []uint32
	for id, d := range next.dict {
		if bd := base.dict[id]; bd == nil || (bd != d && !sameSeries(bd, d)) {
			dictIDs = append(dictIDs, id)
		}
	}
	slices.Sort(dictIDs)
	var prev uint32
	nDict := uint64(len(dictIDs))
	var dict []byte
	for _, id := range dictIDs {
		d := next.dict[id]
		dict = binary.AppendUvarint(dict, uint64(id-prev))
		prev = id
		dict = append(dict, byte(d.Kind))
		dict = appendString(dict, d.Name)
		dict = binary.AppendUvarint(dict, uint64(len(d.Labels)))
		for _, l := range d.Labels {
			dict = appendString(dict, l)
		}
	}
	sec[0] = append(binary.AppendUvarint(nil, nDict), dict...)
	sec[1] = appendIDs(nil, base.cur, next.cur)
	sec[2] = appendIDs(nil, next.cur, base.cur)
	w := model
	if w == nil {
		w = byteWriter{q: base.q, sec: &sec}
	}
	packValues(w, base, next, ids)
	sec[8] = base.q.appendEvents(nil, events)
	for i, s := range sec {
		if model != nil && i >= secFlags && i <= secRaws {
			continue // in the range-coded stream
		}
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// packValues writes the per-series symbols of next against base, in id
// order: flags, count, the level and the spreads (or a flat or exact
// value), a counter's raw value.
func packValues(w symWriter, base, next *state, ids []uint32) {
	for _, id := range ids {
		e := next.cur[id]
		b := base.cur[id]
		if b == nil {
			b = &entry{}
		}
		w.flags(e.flags ^ b.flags) // mostly as before: 0
		w.count(int64(e.count) - int64(b.count))
		switch {
		case e.flags&flagFlat != 0:
			w.flat(e.v[0] ^ b.flatBits())
		case e.flags&flagExact != 0:
			bx := b
			if b.flags&flagExact == 0 {
				bx = &entry{}
			}
			w.exact(secLevels, e.v[0]^bx.v[0])
			for i := 1; i < nFields; i++ {
				w.exact(secSpreads, e.v[i]^bx.v[i])
			}
		default:
			counter := e.flags&flagCounter != 0
			var pred [nFields]int64
			base.q.predict(&pred, e, b)
			w.code(levelCtx(counter, levelBucket(b)), int64(e.v[0]), pred[0])
			fields := spreadFields(e.flags)
			same := true
			for _, i := range fields {
				same = same && e.v[i] == e.v[0]
			}
			if same {
				w.tag(cSpreadTag, 0)
				break
			}
			w.tag(cSpreadTag, 1)
			for _, i := range fields {
				p, bkt := spreadPrediction(i, &pred, e, b)
				w.code(spreadCtx(i, counter, bkt), int64(e.v[i]), p)
			}
		}
		switch {
		case e.flags&flagCounter != 0:
			base.q.putCounter(w, e, b)
		case e.flags&flagLevel != 0:
			base.q.putLevel(w, e, b)
		default:
			e.setLevel()
		}
	}
}

func appendString(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// appendIDs writes the ids of a that are not in b, ascending, as a count
// and deltas.
func appendIDs(dst []byte, a, b map[uint32]*entry) []byte {
	var ids []uint32
	for id := range a {
		if b[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	var prev uint32
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(id-prev))
		prev = id
	}
	return dst
}

// appendXOR writes float64 bits XOR their base compactly: 0 for equal,
// else a tag with the counts of leading and trailing zero bytes and the
// bytes between (Gorilla's idea, at byte granularity).
func appendXOR(dst []byte, u uint64) []byte {
	if u == 0 {
		return append(dst, 0)
	}
	lz, tz := bits.LeadingZeros64(u)/8, bits.TrailingZeros64(u)/8
	dst = append(dst, byte(lz<<4|tz)+1)
	for i := 7 - lz; i >= tz; i-- {
		dst = append(dst, byte(u>>(8*i)))
	}
	return dst
}

// appendRaw writes a counter's raw value against its previous one exactly.
func appendRaw(dst []byte, v, base float64, haveBase bool) []byte {
	if !haveBase {
		base = 0
	}
	if math.Float64bits(v) == math.Float64bits(base) {
		return append(dst, 0)
	}
	for tag, scale := range [...]float64{1, 10, 100, 1000} {
		a, b := v*scale, base*scale
		if math.Abs(a) < 1<<52 && math.Abs(b) < 1<<52 && a == math.Trunc(a) && b == math.Trunc(b) &&
			float64(int64(a))/scale == v && float64(int64(b))/scale == base {
			dst = append(dst, byte(tag+1))
			return binary.AppendVarint(dst, int64(a)-int64(b))
		}
	}
	dst = append(dst, 5)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)^math.Float64bits(base))
}

// KeyframeBody returns the uncompressed body of b's keyframe at the
// default precision: the material codec's zstd dictionary is made of
// (testbench/gendict).
func KeyframeBody(b *Batch) ([]byte, error) {
	o := DefaultWireOptions()
	o.Compress = false
	e, err := NewEncoder(o)
	if err != nil {
		return nil, err
	}
	if _, err := e.Encode(nil, b); err != nil {
		return nil, err
	}
	return e.raw, nil
}
