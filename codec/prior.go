package codec

import (
	_ "embed"
	"encoding/binary"
	"fmt"
	"sync"
)

// wirePrior holds the starting probabilities of the context model
// (WireOptions.Model): nCtx models of intModelLen probabilities each,
// little-endian uint16, counted over the frames of recorded agents by
// testbench/gendict (-prior). A frame's body names wirePriorID; like the
// zstd dictionary, a new prior needs a new id (and the old one kept
// readable while agents roll over).
//
//go:embed wireprior.bin
var wirePrior []byte

const wirePriorID = 1

// priorTable is the decoded prior; every frame starts from a copy.
var priorTable = sync.OnceValue(func() []prob {
	t := make([]prob, nCtx*intModelLen)
	if len(wirePrior) != 2*len(t) {
		// A prior of another layout cannot be used; start flat (the
		// codec tests fail on this, so it never ships).
		for i := range t {
			t[i] = probHalf
		}
		return t
	}
	for i := range t {
		t[i] = prob(binary.LittleEndian.Uint16(wirePrior[2*i:]))
	}
	return t
})

// tables are decoders' scratch copies of the prior.
var tables = sync.Pool{New: func() any { t := make([]prob, nCtx*intModelLen); return &t }}

// BodyModel is the body compression of WireOptions.Model: the per-series
// values range-coded with the context model, the other sections beside
// them (zstd when that is smaller). Layout: side mode (0 raw, 1 zstd),
// uvarint side length, side, prior id, range-coded values. Frame.RawLen
// is the side's length before compression.
const BodyModel uint8 = 2

const (
	sideRaw  = 0
	sideZstd = 1
)

// packModel builds a BodyModel body: the side sections and the values.
func (e *Encoder) packModel(base, next *state, events []Event) (body []byte, rawLen int) {
	if e.table == nil {
		e.table = make([]prob, len(priorTable()))
	}
	copy(e.table, priorTable())
	w := &modelWriter{q: base.q, m: e.table}
	w.rc.tally = e.tally
	w.rc.reset(nil)
	e.raw = pack(e.raw[:0], base, next, events, w)
	side, mode := e.raw, byte(sideRaw)
	if e.zw != nil {
		if z := e.zw.EncodeAll(e.raw, nil); len(z) < len(side) {
			side, mode = z, sideZstd
		}
	}
	body = append([]byte{mode}, binary.AppendUvarint(nil, uint64(len(side)))...)
	body = append(body, side...)
	body = append(body, wirePriorID)
	return append(body, w.rc.finish()...), len(e.raw)
}

// unpackModel is packModel's inverse.
func unpackModel(f *Frame, base *state) (*state, []Event, error) {
	r := &reader{p: f.Body}
	mode := r.byte1()
	side := r.bytes(r.uvarint())
	id := r.byte1()
	if r.err != nil {
		return nil, nil, fmt.Errorf("model body: %w", r.err)
	}
	if id != wirePriorID {
		return nil, nil, fmt.Errorf("model body: prior id %d, this build has %d", id, wirePriorID)
	}
	switch mode {
	case sideRaw:
	case sideZstd:
		var err error
		if side, err = unzstd(side, f.RawLen); err != nil {
			return nil, nil, fmt.Errorf("model body: side sections: %w", err)
		}
	default:
		return nil, nil, fmt.Errorf("model body: side mode %d", mode)
	}
	if len(side) != int(f.RawLen) {
		return nil, nil, fmt.Errorf("model body: side sections are %d bytes, header says %d", len(side), f.RawLen)
	}
	t := tables.Get().(*[]prob)
	defer tables.Put(t)
	copy(*t, priorTable())
	mr := &modelReader{q: base.q, m: *t}
	mr.rc.reset(r.p)
	return unpack(side, base, f.Seq, mr)
}

// TrainWirePrior counts, over the frames of each agent's batches in
// order (each agent's first frame a keyframe), how often every binary
// decision of the context model went each way, and returns the prior
// those counts give (the content of codec/wireprior.bin) and the number
// of decisions counted. o is the encoders' options; Model is forced on.
func TrainWirePrior(agents [][]*Batch, o WireOptions) ([]byte, uint64, error) {
	o.Model = true
	tally := make([][2]uint64, nCtx*intModelLen)
	for _, batches := range agents {
		e, err := NewEncoder(o)
		if err != nil {
			return nil, 0, err
		}
		e.tally = tally
		for _, b := range batches {
			if _, err := e.Encode(nil, b); err != nil {
				return nil, 0, fmt.Errorf("codec: train prior: %s seq %d: %w", b.Agent, b.Seq, err)
			}
		}
	}
	out := make([]byte, 2*len(tally))
	var total uint64
	for i, c := range tally {
		total += c[0] + c[1]
		p := (2*c[0] + 1) * probOne / (2*(c[0]+c[1]) + 2) // P(0), half a count added each way
		binary.LittleEndian.PutUint16(out[2*i:], uint16(min(max(p, 31), probOne-31)))
	}
	return out, total, nil
}
