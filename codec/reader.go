package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

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
