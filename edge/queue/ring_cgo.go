//go:build cgo && !purego

package queue

/*
#cgo CFLAGS: -O2 -std=c11 -Wall -Wextra
#cgo noescape ep_push_batch
#cgo nocallback ep_push_batch
#cgo noescape ep_pop_batch
#cgo nocallback ep_pop_batch
#cgo noescape ep_ring_counts
#cgo nocallback ep_ring_counts
#include "mpsc.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// The Go Sample and the C ep_sample must agree (sample.go checks Go alone).
var (
	_ = [1]struct{}{}[unsafe.Sizeof(Sample{})^C.EP_SAMPLE_SIZE]
	_ = [1]struct{}{}[unsafe.Sizeof(Sample{})^C.sizeof_ep_sample]
	_ = [1]struct{}{}[unsafe.Offsetof(Sample{}.TS)^C.EP_SAMPLE_OFF_TS]
	_ = [1]struct{}{}[unsafe.Offsetof(Sample{}.Value)^C.EP_SAMPLE_OFF_VALUE]
	_ = [1]struct{}{}[unsafe.Offsetof(Sample{}.Series)^C.EP_SAMPLE_OFF_SERIES]
	_ = [1]struct{}{}[unsafe.Offsetof(Sample{}.Flags)^C.EP_SAMPLE_OFF_FLAGS]
)

// cRing is the C11 ring of mpsc.c behind cgo. It is compiled (and tested
// and benchmarked) whenever cgo is on, and backs [Queue] with the cgoqueue
// tag. The ring lives in C memory, so the GC never moves it; Go slices are
// passed to C by their first element (Sample holds no Go pointers, so the
// cgo pointer rules allow it, and noescape keeps them on the caller's
// stack).
type cRing struct {
	r       *C.ep_ring // nil after close
	size    int
	cleanup runtime.Cleanup
	final   Stats // counters at close
}

func newCRing(capacity int) (*cRing, error) {
	size, err := roundCapacity(capacity)
	if err != nil {
		return nil, err
	}
	r := C.ep_ring_new(C.uint64_t(size))
	if r == nil {
		return nil, fmt.Errorf("queue: allocating a C ring of %d samples: out of memory", size)
	}
	c := &cRing{r: r, size: size}
	// Free the C memory if the owner forgets Close.
	c.cleanup = runtime.AddCleanup(c, func(r *C.ep_ring) { C.ep_ring_free(r) }, r)
	return c, nil
}

func (c *cRing) PushBatch(src []Sample) int {
	if len(src) == 0 || c.r == nil {
		return 0
	}
	n := C.ep_push_batch(c.r, (*C.ep_sample)(unsafe.Pointer(&src[0])), C.size_t(len(src)))
	runtime.KeepAlive(c) // the cleanup must not free the ring mid-call
	return int(n)
}

func (c *cRing) PopBatch(dst []Sample) int {
	if len(dst) == 0 || c.r == nil {
		return 0
	}
	n := C.ep_pop_batch(c.r, (*C.ep_sample)(unsafe.Pointer(&dst[0])), C.size_t(len(dst)))
	runtime.KeepAlive(c)
	return int(n)
}

func (c *cRing) counts() (head, tail uint64) {
	if c.r == nil {
		return 0, 0
	}
	var h, t C.uint64_t
	C.ep_ring_counts(c.r, &h, &t)
	runtime.KeepAlive(c)
	return uint64(h), uint64(t)
}

func (c *cRing) Len() int {
	head, tail := c.counts()
	return length(head, tail, c.size)
}

func (c *cRing) Cap() int { return c.size }

func (c *cRing) Stats() Stats {
	if c.r == nil {
		return c.final
	}
	head, tail := c.counts()
	return Stats{Pushed: tail, Popped: head}
}

func (c *cRing) Close() error {
	if c.r == nil {
		return nil
	}
	c.final = c.Stats()
	c.cleanup.Stop()
	C.ep_ring_free(c.r)
	c.r = nil
	return nil
}
