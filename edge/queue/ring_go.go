package queue

import "sync/atomic"

// cacheLine is the padding between fields written by different cores; 128
// covers 64-byte lines plus adjacent-line prefetch (see mpsc.c).
const cacheLine = 128

// goSlot is one ring slot: seq is position+1 once the sample for that
// position is published.
type goSlot struct {
	seq atomic.Uint64
	s   Sample
}

// goRing is the pure-Go ring: the algorithm of mpsc.c (read its header
// comment) with sync/atomic, whose operations are sequentially consistent
// and so at least as strong as the C acquire/release pairs. It is always
// compiled, so benchmarks can compare it with the cgo ring in one run; it
// backs [Queue] when cgo is off or the purego tag is set.
type goRing struct {
	_     [cacheLine]byte
	tail  atomic.Uint64 // next position to reserve; producers CAS it
	_     [cacheLine - 8]byte
	head  atomic.Uint64 // next position to pop; stored by the consumer only
	_     [cacheLine - 8]byte
	mask  uint64
	size  int
	slots []goSlot // nil after close
}

func newGoRing(capacity int) (*goRing, error) {
	size, err := roundCapacity(capacity)
	if err != nil {
		return nil, err
	}
	return &goRing{mask: uint64(size - 1), size: size, slots: make([]goSlot, size)}, nil
}

func (r *goRing) PushBatch(src []Sample) int {
	n := uint64(len(src))
	if n == 0 || r.slots == nil {
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
	slots, mask := r.slots, r.mask
	for i := range k {
		sl := &slots[(tail+i)&mask]
		sl.s = src[i]
		sl.seq.Store(tail + i + 1)
	}
	return int(k)
}

func (r *goRing) PopBatch(dst []Sample) int {
	if r.slots == nil {
		return 0
	}
	head := r.head.Load()
	slots, mask := r.slots, r.mask
	i := 0
	for ; i < len(dst); i++ {
		pos := head + uint64(i)
		sl := &slots[pos&mask]
		if sl.seq.Load() != pos+1 {
			break
		}
		dst[i] = sl.s
	}
	if i > 0 {
		r.head.Store(head + uint64(i))
	}
	return i
}

func (r *goRing) Len() int {
	if r.slots == nil {
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
	r.slots = nil
	return nil
}
