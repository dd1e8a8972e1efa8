package preagg

import (
	"encoding/binary"
	"errors"
	"math"
)

// part is the aggregate of some series of one group: their values' sum,
// min and max and how many there were. Merging parts is commutative and
// associative, so hosts, partitions and versions combine in any order.
type part struct {
	sum, min, max float64
	n             uint64
}

func (p *part) add(v float64) {
	if p.n == 0 || v < p.min {
		p.min = v
	}
	if p.n == 0 || v > p.max {
		p.max = v
	}
	p.sum += v
	p.n++
}

func (p *part) merge(q part) {
	if q.n == 0 {
		return
	}
	if p.n == 0 || q.min < p.min {
		p.min = q.min
	}
	if p.n == 0 || q.max > p.max {
		p.max = q.max
	}
	p.sum += q.sum
	p.n += q.n
}

// result is op over the parts' series.
func (p *part) result(op string) float64 {
	switch op {
	case "sum":
		return p.sum
	case "min":
		return p.min
	case "max":
		return p.max
	case "count":
		return float64(p.n)
	default: // avg
		return p.sum / float64(p.n)
	}
}

// A host's contribution to one rule's window is encoded as repeated
// (uvarint key length, key, sum, min, max as float64 bits, uvarint n).

func appendContrib(dst []byte, key string, p part) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	for _, f := range [...]float64{p.sum, p.min, p.max} {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
	}
	return binary.AppendUvarint(dst, p.n)
}

var errContrib = errors.New("preagg: malformed contribution")

// decodeContrib calls fn for every group of an encoded contribution.
func decodeContrib(b []byte, fn func(key string, p part)) error {
	for len(b) > 0 {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l+24 {
			return errContrib
		}
		b = b[n:]
		key := string(b[:l])
		b = b[l:]
		p := part{sum: math.Float64frombits(binary.LittleEndian.Uint64(b)), min: math.Float64frombits(binary.LittleEndian.Uint64(b[8:])),
			max: math.Float64frombits(binary.LittleEndian.Uint64(b[16:]))}
		b = b[24:]
		if p.n, n = binary.Uvarint(b); n <= 0 {
			return errContrib
		}
		b = b[n:]
		fn(key, p)
	}
	return nil
}
