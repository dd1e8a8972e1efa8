package queue

import "sync/atomic"

// cacheLine is the padding between fields written by different cores; 128
// covers 64-byte lines plus adjacent-line prefetch (see mpsc.c).
const cacheLine = 128

// goRing is the pure-Go ring: the algorithm of mpsc.c (read its header
// comment) with sync/atomic, whose operations are sequentially consistent
// and so at least as strong as the C acquire/release pairs. It backs
// [Queue] unless the cgoqueue tag selects the cgo ring.
type goRing struct {
	mask uint64
	size int
	data []Sample        // nil after close
	seq  []atomic.Uint64 // seq[p&mask] = end of the reservation starting at p
	_    [cacheLine]byte
	tail atomic.Uint64 // next position to reserve; producers CAS it
	_    [cacheLine - 8]byte
	head atomic.Uint64 // next position to pop; stored by the consumer only
	end  uint64        // consumer-private: end of the reservation head is in
	_    [cacheLine - 16]byte
}

func newGoRing(capacity int) (*goRing, error) {
	size, err := roundCapacity(capacity)
	if err != nil {
		return nil, err
	}
	return &goRing{
		mask: uint64(size - 1),
		size: size,
		data: make([]Sample, size),
		seq:  make([]atomic.Uint64, size),
	}, nil
}

func (r *goRing) PushBatch(src []Sample) int {
	n := uint64(len(src))
	if n == 0 || r.data == nil {
		return 0
	}
	size := r.mask + 1
	tail := r.tail.Load()
	var k uint64
	for {
		head := r.head.Load()
		used := tail - head
		if int64(used) < 0 {
			used = 0 // stale tail: the CAS fails and reloads it
		}
		if used >= size {
			return 0
		}
		k = min(size-used, n)
		if r.tail.CompareAndSwap(tail, tail+k) {
			break
		}
		tail = r.tail.Load()
	}
	start := tail & r.mask
	first := copy(r.data[start:], src[:k])
	copy(r.data, src[first:k])
	r.seq[start].Store(tail + k)
	return int(k)
}

func (r *goRing) PopBatch(dst []Sample) int {
	if r.data == nil {
		return 0
	}
	head := r.head.Load()
	end, pos, i := r.end, head, 0
	for i < len(dst) {
		if pos == end {
			// At the start of the next reservation: published yet?
			v := r.seq[pos&r.mask].Load()
			if v <= pos {
				break
			}
			end = v
		}
		m := int(min(end-pos, uint64(len(dst)-i)))
		start := pos & r.mask
		first := copy(dst[i:i+m], r.data[start:])
		copy(dst[i+first:i+m], r.data)
		pos += uint64(m)
		i += m
	}
	r.end = end
	if pos != head {
		r.head.Store(pos)
	}
	return i
}

func (r *goRing) Len() int {
	if r.data == nil {
		return 0
	}
	head := r.head.Load()
	return length(head, r.tail.Load(), r.size)
}

func (r *goRing) Cap() int { return r.size }

func (r *goRing) Stats() Stats {
	head := r.head.Load()
	return Stats{Pushed: r.tail.Load(), Popped: head}
}

func (r *goRing) Close() error {
	r.data, r.seq = nil, nil
	return nil
}
