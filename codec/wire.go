package codec

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// WireOptions choose how an [Encoder] packs batches into frames. Each
// technique can be turned off on its own so the backhaul meter can show
// what each saves.
type WireOptions struct {
	// Dictionary sends a series' name, kind and labels once (in the first
	// frame that mentions it, and in every keyframe) and only its numeric
	// id after that. Off: every frame repeats every name.
	Dictionary bool `yaml:"dictionary"`
	// Delta packs each value against the same series' value in the
	// previous frame; a series whose values did not change costs a few
	// zero bytes. Off: every frame is a keyframe.
	Delta bool `yaml:"delta"`
	// Precision is the relative precision the statistics travel with: each
	// of sum, min, max, first, last and the quantiles arrives within
	// Precision of the agent's value (the sum via the window mean), and a
	// counter's raw value within Precision of its growth over the window
	// (so rate() is within Precision). 0 sends them exactly. Counts, and
	// windows whose statistics are all one value, are always exact.
	// The quantiles themselves are estimates within the sketch's relative
	// accuracy (1 % by default), so a precision well below that loses
	// nothing the sketch had.
	Precision float64 `yaml:"precision"`
	// Compress compresses each frame body with zstd (with Model on: the
	// dictionary and events, where that makes them smaller).
	Compress bool `yaml:"compress"`
	// Model range-codes the values (flags, counts, statistics, counters)
	// with an adaptive binary context model instead of writing them as
	// bytes for zstd: each value is coded in a context of what it is (which
	// statistic, gauge or counter) and how far apart the series' statistics
	// were in the previous window, starting from probabilities counted over
	// recorded agents (codec/wireprior.bin). A third smaller than zstd on
	// the same values.
	Model bool `yaml:"model"`
	// ZstdDict primes zstd with codec's dictionary (zdict.bin: the body of
	// a keyframe of the agent's default collectors), so names and labels
	// every agent sends compress even in a keyframe.
	ZstdDict bool `yaml:"zstd_dict"`
	// First sends each window's first value. The summary a user asks of a
	// window is count, sum, min, max, last and the quantiles; first costs
	// about a tenth of a frame (a counter's first rate is a random sample),
	// so it stays home unless asked for: off, a decoded First is NaN.
	First bool `yaml:"first"`
	// Keyframe makes every Keyframe-th frame a keyframe, so a receiver
	// that lost its state recovers within that many windows even if it
	// cannot ask for one (the aggregator asks, on
	// ep.agent.<site>.<host>.keyframe, when a chain breaks). 0: only the
	// first frame (and the first after a Reset).
	Keyframe int `yaml:"keyframe"`
}

// DefaultWireOptions returns every technique on, 1 % precision (the
// quantile sketch's own relative accuracy) and a keyframe every 360 frames
// (six hours of 60 s windows: a keyframe is about 4 KB, so a 10 B per
// host-minute insurance; the aggregator asks for one when it needs it).
func DefaultWireOptions() WireOptions {
	return WireOptions{Dictionary: true, Delta: true, Precision: 0.01, Compress: true, ZstdDict: true, Model: true, Keyframe: 360}
}

// Validate names the first field out of range.
func (o WireOptions) Validate() error {
	switch {
	case !(o.Precision >= 0 && o.Precision <= MaxPrecision):
		return fmt.Errorf("codec: wire precision %v must be between 0 and %v", o.Precision, MaxPrecision)
	case o.Keyframe < 0 || o.Keyframe > 100_000:
		return fmt.Errorf("codec: wire keyframe %d must be between 0 and 100000", o.Keyframe)
	}
	return nil
}

// The packed statistics of one series, in codes of the frame's quantizer
// (or float64 bits when the series travels exactly).
const (
	fSum = iota // quantized: the window mean, the sum is mean·count
	fMin
	fMax
	fFirst
	fLast
	fQ50
	fQ90
	fQ99
	nFields
)

// entry is what both ends remember of one series after a frame.
type entry struct {
	count uint32
	flags uint8
	v     [nFields]uint64 // codes (as uint64) or float64 bits (flagExact)
	// raw is a counter's raw last value as the decoder has it: exact from a
	// keyframe or a reset on, then grown by quantized increments (see
	// putCounter). For a gauge it is the window's last value as the
	// decoder has it (the level: exact when the window was flat or exact,
	// else moved by quantized steps, see putLevel). truth is the agent's
	// exact value (the encoder's input; equal to raw at the decoder).
	raw, truth float64
	inc        int64 // code of the last quantized increment (a gauge's: of the step's magnitude), 0 if none
}

const (
	flagQuantiles uint8 = 1 << iota // v[fQ50..fQ99] are set
	flagExact                       // v holds float64 bits, not codes
	flagCounter                     // raw holds the counter's last value
	flagFlat                        // every statistic is the one value v[0] (float64 bits), exactly
	flagNoFirst                     // the window's first value was not sent (decodes as NaN)
	flagLevel                       // a quantized gauge whose last value is raw, sent as a step from the base's (putLevel; frame version 4)
	flagsKnown    = flagQuantiles | flagExact | flagCounter | flagFlat | flagNoFirst | flagLevel
)

// state is one side's memory of a stream: the dictionary and the values of
// the series in the last frame. The encoder and the decoder of a stream
// hold identical states after every frame.
type state struct {
	seq  uint64
	q    quantizer
	dict map[uint32]*Series
	cur  map[uint32]*entry
}

func newState(p float64) *state {
	return &state{q: newQuantizer(p), dict: map[uint32]*Series{}, cur: map[uint32]*entry{}}
}

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

// zdict is the zstd dictionary (raw content) of WireOptions.ZstdDict, made
// by testbench/gendict. A frame compressed with it names zdictID, so a
// build with another dictionary refuses it instead of misreading it.
// Agents and aggregators must hold the same bytes under one id: the file
// is not regenerated by go generate; change it only together with a new
// zdictID (and keep the old one readable while agents roll over).
//
//go:embed zdict.bin
var zdict []byte

const zdictID = 1

// Decoder unpacks one agent's frames. It is not safe for concurrent use.
type Decoder struct {
	st *state
}

// NewDecoder returns a decoder that can start with a keyframe.
func NewDecoder() *Decoder { return &Decoder{} }

// Clone returns a decoder holding the same state; applying frames to
// either leaves the other as it was (states are never changed in place).
func (d *Decoder) Clone() *Decoder { return &Decoder{st: d.st} }

// Seq is the sequence number of the last frame decoded: the base a delta
// frame needs. 0 before the first.
func (d *Decoder) Seq() uint64 {
	if d.st == nil {
		return 0
	}
	return d.st.seq
}

// Decode parses and unpacks one frame.
func (d *Decoder) Decode(p []byte) (*Batch, error) {
	f, err := ParseFrame(p)
	if err != nil {
		return nil, err
	}
	return d.Apply(f)
}

// zstdDec is shared: DecodeAll is safe for concurrent use.
var zstdDec = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxBatchBytes),
		zstd.WithDecoderMaxWindow(1<<20), zstd.WithDecoderDictRaw(zdictID, zdict))
})

// Apply unpacks a parsed frame. A delta frame needs the decoder to hold
// its base ([ErrBaseMissing] otherwise); a frame that fails leaves the
// decoder as it was.
func (d *Decoder) Apply(f *Frame) (*Batch, error) {
	base := d.st
	if f.Base == 0 {
		base = newState(f.Precision)
	} else if base == nil || base.seq != f.Base {
		return nil, fmt.Errorf("%w: frame %s/%d is packed against %d, decoder holds %d", ErrBaseMissing, f.Agent, f.Seq, f.Base, d.Seq())
	} else if base.q.p != f.Precision {
		return nil, fmt.Errorf("%w: frame %d has precision %v, its base %v", ErrMalformed, f.Seq, f.Precision, base.q.p)
	}
	next, events, err := unpackFrame(f, base)
	if err != nil {
		return nil, fmt.Errorf("%w: frame %s/%d: %w", ErrMalformed, f.Agent, f.Seq, err)
	}
	b := &Batch{Version: Version, Agent: f.Agent, Site: f.Site, Host: f.Host, Seq: f.Seq, Start: f.Start, Width: f.Width,
		Late: f.Late, Events: events}
	ids := make([]uint32, 0, len(next.cur))
	for id := range next.cur {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b.Series = make([]Series, len(ids))
	b.Rollups = make([]Rollup, len(ids))
	for i, id := range ids {
		b.Series[i] = *next.dict[id]
		b.Series[i].Labels = slices.Clone(b.Series[i].Labels)
		b.Rollups[i] = next.q.rollup(id, next.cur[id])
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	d.st = next
	return b, nil
}

// unpackFrame unpacks f's body against base, whatever its compression.
func unpackFrame(f *Frame, base *state) (*state, []Event, error) {
	if f.Compression == BodyModel {
		return unpackModel(f, base)
	}
	body := f.Body
	if f.Compression == BodyZstd {
		var err error
		if body, err = unzstd(f.Body, f.RawLen); err != nil {
			return nil, nil, fmt.Errorf("body: %w", err)
		}
	}
	if len(body) != int(f.RawLen) {
		return nil, nil, fmt.Errorf("body is %d bytes, header says %d", len(body), f.RawLen)
	}
	return unpack(body, base, f.Seq, nil)
}

// unzstd decompresses what should be rawLen bytes.
func unzstd(p []byte, rawLen uint32) ([]byte, error) {
	zd, err := zstdDec()
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return zd.DecodeAll(p, make([]byte, 0, rawLen))
}

// reader walks a body; the first error sticks.
type reader struct {
	p   []byte
	err error
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, a...)
	}
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.fail("bad uvarint")
		r.p = nil
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.p)
	if n <= 0 {
		r.fail("bad varint")
		r.p = nil
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if n > uint64(len(r.p)) {
		r.fail("%d bytes wanted, %d left", n, len(r.p))
		r.p = nil
		return nil
	}
	b := r.p[:n]
	r.p = r.p[n:]
	return b
}

func (r *reader) byte1() byte {
	b := r.bytes(1)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func (r *reader) u64() uint64 {
	b := r.bytes(8)
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// xor reads what appendXOR wrote.
func (r *reader) xor() uint64 {
	tag := r.byte1()
	if tag == 0 {
		return 0
	}
	lz, tz := int(tag-1)>>4, int(tag-1)&0xf
	if lz+tz >= 8 {
		r.fail("bad xor tag %#x", tag)
		return 0
	}
	var u uint64
	for _, c := range r.bytes(uint64(8 - lz - tz)) {
		u = u<<8 | uint64(c)
	}
	return u << (8 * tz)
}

func (r *reader) str() string { return string(r.bytes(r.uvarint())) }

// ids reads a count and id deltas; n bounds the count.
func (r *reader) ids(limit int) []uint32 {
	n := r.uvarint()
	if n > uint64(limit) {
		r.fail("%d ids, more than the %d possible", n, limit)
		return nil
	}
	out := make([]uint32, 0, n)
	var id uint64
	for i := uint64(0); i < n && r.err == nil; i++ {
		id += r.uvarint()
		if id > math.MaxUint32 {
			r.fail("series id %d out of range", id)
		}
		out = append(out, uint32(id))
	}
	return out
}

// With a model reader the body holds only the other sections (0–2, 8).
func unpack(body []byte, base *state, seq uint64, model symReader) (*state, []Event, error) {
	top := &reader{p: body}
	var sec [nSections]*reader
	for i := range sec {
		if model != nil && i >= secFlags && i <= secRaws {
			sec[i] = &reader{}
			continue
		}
		sec[i] = &reader{p: top.bytes(top.uvarint())}
	}
	if top.err != nil {
		return nil, nil, fmt.Errorf("sections: %w", top.err)
	}
	if len(top.p) != 0 {
		return nil, nil, fmt.Errorf("%d bytes after the last section", len(top.p))
	}
	next := &state{seq: seq, q: base.q, dict: base.dict, cur: make(map[uint32]*entry, len(base.cur))}

	r := sec[0]
	nd := r.uvarint()
	if nd > uint64(len(body)) {
		return nil, nil, fmt.Errorf("dictionary: %d entries in %d bytes", nd, len(body))
	}
	if nd > 0 {
		next.dict = cloneDict(base.dict)
	}
	var id uint64
	for i := uint64(0); i < nd && r.err == nil; i++ {
		id += r.uvarint()
		if id > math.MaxUint32 {
			r.fail("series id %d out of range", id)
			break
		}
		s := &Series{ID: uint32(id), Kind: Kind(r.byte1()), Name: r.str()}
		nl := r.uvarint()
		if nl > uint64(len(r.p)) {
			r.fail("series %q: %d labels", s.Name, nl)
			break
		}
		for range nl {
			s.Labels = append(s.Labels, r.str())
		}
		next.dict[s.ID] = s
	}
	if r.err != nil {
		return nil, nil, fmt.Errorf("dictionary: %w", r.err)
	}

	for id, e := range base.cur {
		next.cur[id] = e
	}
	for _, id := range sec[1].ids(len(base.cur)) {
		if next.cur[id] == nil {
			return nil, nil, fmt.Errorf("series id %d gone but not in the base", id)
		}
		delete(next.cur, id)
	}
	fresh := sec[2].ids(len(next.dict))
	for _, id := range fresh {
		if next.dict[id] == nil {
			return nil, nil, fmt.Errorf("series id %d present but not in the dictionary", id)
		}
		if base.cur[id] != nil {
			return nil, nil, fmt.Errorf("series id %d fresh but in the base", id)
		}
		next.cur[id] = &entry{}
	}
	for _, rd := range sec[1:3] {
		if rd.err != nil {
			return nil, nil, fmt.Errorf("ids: %w", rd.err)
		}
	}
	ids := make([]uint32, 0, len(next.cur))
	for id := range next.cur {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	sr := model
	if sr == nil {
		sr = byteReader{q: next.q, sec: &sec}
	}
	if err := unpackValues(sr, base, next, ids); err != nil {
		return nil, nil, err
	}
	events, err := next.q.readEvents(sec[8].p)
	if err != nil {
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	return next, events, nil
}

// unpackValues is packValues' inverse: it fills next.cur[id] for ids.
func unpackValues(sr symReader, base, next *state, ids []uint32) error {
	for _, id := range ids {
		b := base.cur[id]
		if b == nil {
			b = &entry{}
		}
		e := &entry{flags: sr.flags() ^ b.flags}
		if e.flags&^flagsKnown != 0 || e.flags&flagFlat != 0 && e.flags&flagExact != 0 ||
			e.flags&flagLevel != 0 && e.flags&(flagFlat|flagExact|flagCounter) != 0 {
			return fmt.Errorf("series id %d: unknown flags %#x", id, e.flags)
		}
		if e.flags&(flagExact|flagFlat) == 0 && next.q.p == 0 {
			return fmt.Errorf("series id %d: quantized in an exact frame", id)
		}
		c := int64(b.count) + sr.count()
		if c < 0 || c > math.MaxUint32 {
			return fmt.Errorf("series id %d: count %d out of range", id, c)
		}
		e.count = uint32(c)
		switch {
		case e.flags&flagFlat != 0:
			e.v[0] = sr.flat() ^ b.flatBits()
			for _, i := range spreadFields(e.flags) {
				e.v[i] = e.v[0]
			}
		case e.flags&flagExact != 0:
			bx := b
			if b.flags&flagExact == 0 {
				bx = &entry{}
			}
			e.v[0] = sr.exact(secLevels) ^ bx.v[0]
			for i := 1; i < nFields; i++ {
				e.v[i] = sr.exact(secSpreads) ^ bx.v[i]
			}
		default:
			counter := e.flags&flagCounter != 0
			var pred [nFields]int64
			next.q.predict(&pred, e, b) // the level's prediction needs only the base
			e.v[0] = uint64(sr.code(levelCtx(counter, levelBucket(b)), pred[0]))
			next.q.predict(&pred, e, b)
			fields := spreadFields(e.flags)
			switch sr.tag(cSpreadTag) {
			case 0:
				for _, i := range fields {
					e.v[i] = e.v[0]
				}
			case 1:
				for _, i := range fields {
					p, bkt := spreadPrediction(i, &pred, e, b)
					e.v[i] = uint64(sr.code(spreadCtx(i, counter, bkt), p))
				}
			default:
				return fmt.Errorf("series id %d: bad spread tag", id)
			}
			for i := range e.v {
				if !next.q.valid(int64(e.v[i])) {
					return fmt.Errorf("series id %d: code %d out of range", id, int64(e.v[i]))
				}
			}
		}
		switch {
		case e.flags&flagCounter != 0:
			if err := next.q.getCounter(sr, e, b); err != nil {
				return fmt.Errorf("series id %d: %w", id, err)
			}
		case e.flags&flagLevel != 0:
			if e.count == 0 {
				return fmt.Errorf("series id %d: level without samples", id)
			}
			if err := next.q.getLevel(sr, e, b); err != nil {
				return fmt.Errorf("series id %d: %w", id, err)
			}
		default:
			e.setLevel()
		}
		next.cur[id] = e
	}
	return sr.done()
}

func readRaw(r *reader, base float64, haveBase bool) float64 {
	if !haveBase {
		base = 0
	}
	tag := r.byte1()
	switch tag {
	case 0:
		return base
	case 1, 2, 3, 4:
		scale := [...]float64{1, 10, 100, 1000}[tag-1]
		return float64(int64(base*scale)+r.varint()) / scale
	case 5:
		return math.Float64frombits(r.u64() ^ math.Float64bits(base))
	}
	r.fail("bad raw tag %d", tag)
	return 0
}

// MarshalState returns d's state as a keyframe (nil before the first
// frame), so another decoder — another aggregator taking over the stream —
// can continue with the next delta frame after [Decoder.UnmarshalState].
func (d *Decoder) MarshalState(dst []byte) []byte {
	if d.st == nil {
		return dst
	}
	body := pack(nil, newState(d.st.q.p), d.st, nil, nil)
	f := Frame{Version: FrameVersion, Agent: "state", Site: "state", Host: "state", Seq: d.st.seq, Width: 1,
		Precision: d.st.q.p, RawLen: uint32(len(body)), Body: body}
	if zw, err := stateZstd(); err == nil {
		f.Compression, f.Body = BodyZstd, zw.EncodeAll(body, nil)
	}
	out, _ := f.MarshalMsg(dst) // plain data: cannot fail
	return out
}

// stateZstd compresses saved decoder states: fast, with the dictionary
// (a state is a keyframe body). EncodeAll is safe for concurrent use.
var stateZstd = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderDictRaw(zdictID, zdict),
		zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
})

// UnmarshalState replaces d's state with one from MarshalState.
func (d *Decoder) UnmarshalState(p []byte) error {
	f, err := ParseFrame(p)
	if err != nil {
		return fmt.Errorf("codec: decoder state: %w", err)
	}
	st, _, err := unpackFrame(f, newState(f.Precision))
	if err != nil {
		return fmt.Errorf("codec: decoder state: %w", err)
	}
	d.st = st
	return nil
}

// appendEvents packs incident events: names and labels as strings, times
// as varints against the event's own, and the score, value and raw context
// samples as codes of the frame's quantizer (each within the precision),
// every context sample against the one before it. At precision 0 values
// travel as float64 bits, XOR the sample before.
func (q quantizer) appendEvents(dst []byte, events []Event) []byte {
	if len(events) == 0 {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(len(events)))
	for i := range events {
		e := &events[i]
		dst = append(dst, byte(e.Kind))
		dst = binary.AppendVarint(dst, e.TS)
		dst = binary.AppendVarint(dst, int64(e.Incident)-e.TS)
		dst = appendString(dst, e.Series)
		dst = binary.AppendUvarint(dst, uint64(len(e.Labels)))
		for _, l := range e.Labels {
			dst = appendString(dst, l)
		}
		dst = appendString(dst, e.Reason)
		dst = binary.AppendVarint(dst, e.Start-e.TS)
		dst = binary.AppendVarint(dst, e.Step)
		dst = binary.AppendUvarint(dst, uint64(len(e.Context)))
		dst = q.appendValues(dst, append([]float64{e.Score, e.Value}, e.Context...))
	}
	return dst
}

// appendValues writes vs, each against the one before: a code when the
// quantizer can hold it (tag 1), else exactly (tag 2, float64 bits XOR
// the previous value's bits); at precision 0 always exactly.
func (q quantizer) appendValues(dst []byte, vs []float64) []byte {
	var prevCode int64
	var prevBits uint64
	for _, v := range vs {
		if k, ok := q.code(v); ok && q.p > 0 {
			dst = q.appendCode(append(dst, 1), k, prevCode)
			prevCode = k
		} else {
			dst = appendXOR(append(dst, 2), math.Float64bits(v)^prevBits)
		}
		prevBits = math.Float64bits(v)
	}
	return dst
}

func (q quantizer) readValues(r *reader, n uint64) []float64 {
	if n > uint64(len(r.p)) {
		r.fail("%d values in %d bytes", n, len(r.p))
		return nil
	}
	out := make([]float64, n)
	var prevCode int64
	var prevBits uint64
	for i := range out {
		switch r.byte1() {
		case 1:
			k := q.readCode(r, prevCode)
			if q.p == 0 || !q.valid(k) {
				r.fail("bad value code %d", k)
				return nil
			}
			out[i], prevCode = q.value(k), k
		case 2:
			out[i] = math.Float64frombits(r.xor() ^ prevBits)
		default:
			r.fail("bad value tag")
			return nil
		}
		prevBits = math.Float64bits(out[i])
	}
	return out
}

func (q quantizer) readEvents(p []byte) ([]Event, error) {
	if len(p) == 0 {
		return nil, nil
	}
	r := &reader{p: p}
	n := r.uvarint()
	if n > uint64(len(p)) {
		return nil, fmt.Errorf("%d events in %d bytes", n, len(p))
	}
	out := make([]Event, 0, n)
	for range n {
		e := Event{Kind: EventKind(r.byte1())}
		e.TS = r.varint()
		e.Incident = uint64(e.TS + r.varint())
		e.Series = r.str()
		nl := r.uvarint()
		if nl > uint64(len(r.p)) {
			return nil, fmt.Errorf("%d labels in %d bytes", nl, len(r.p))
		}
		for range nl {
			e.Labels = append(e.Labels, r.str())
		}
		e.Reason = r.str()
		e.Start = e.TS + r.varint()
		e.Step = r.varint()
		nc := r.uvarint()
		if nc > uint64(len(r.p)) {
			return nil, fmt.Errorf("%d context samples in %d bytes", nc, len(r.p))
		}
		vs := q.readValues(r, nc+2)
		if r.err != nil {
			return nil, r.err
		}
		e.Score, e.Value = vs[0], vs[1]
		if nc > 0 {
			e.Context = vs[2:]
		}
		out = append(out, e)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.p) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(r.p))
	}
	return out, nil
}
