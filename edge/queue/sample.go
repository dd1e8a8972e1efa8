package queue

import (
	"errors"
	"fmt"
	"math/bits"
	"unsafe"
)

// Sample is one measurement of one series. Its layout is shared with C
// (ep_sample in mpsc.h) and must not change without changing both sides.
type Sample struct {
	TS     int64   // Unix milliseconds
	Value  float64 // the measured value
	Series uint32  // interned series id
	Flags  uint32  // per-sample flags, opaque to this package
}

// SampleSize is the size of a Sample in bytes, in Go and in C.
const SampleSize = 24

// Compile-time layout checks: each index is 0 only when the two sides of
// the XOR are equal; any other value is an out-of-range constant index and
// the package does not compile. queue_cgo.go repeats them against C.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(Sample{})^SampleSize]
	_ = [1]struct{}{}[unsafe.Offsetof(Sample{}.TS)^0]
	_ = [1]struct{}{}[unsafe.Offsetof(Sample{}.Value)^8]
	_ = [1]struct{}{}[unsafe.Offsetof(Sample{}.Series)^16]
	_ = [1]struct{}{}[unsafe.Offsetof(Sample{}.Flags)^20]
)

// MaxCapacity is the largest capacity [New] accepts (512 MiB of slots).
const MaxCapacity = 1 << 24

// ErrCapacity is returned (wrapped) by [New] for a capacity outside
// 1..[MaxCapacity].
var ErrCapacity = errors.New("capacity out of range")

// Stats are a queue's lifetime counters. Pushed counts samples accepted by
// PushBatch (including any still being copied in), Popped samples returned by
// PopBatch; Pushed-Popped is the current length. Samples a PushBatch did not
// take are not counted here: that accounting is the caller's.
type Stats struct {
	Pushed uint64
	Popped uint64
}

// roundCapacity validates capacity and rounds it up to a power of two.
func roundCapacity(capacity int) (int, error) {
	if capacity < 1 || capacity > MaxCapacity {
		return 0, fmt.Errorf("queue: capacity %d: %w (want 1..%d)", capacity, ErrCapacity, MaxCapacity)
	}
	return 1 << bits.Len(uint(capacity-1)), nil
}

// length turns head and tail counters (head read first) into a length
// within 0..size.
func length(head, tail uint64, size int) int {
	n := tail - head
	if int64(n) < 0 {
		return 0
	}
	if n > uint64(size) {
		return size
	}
	return int(n)
}
