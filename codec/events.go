package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

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
