package queue

// Queue is a bounded lock-free multi-producer single-consumer queue of
// [Sample]: the pure-Go ring (sync/atomic) by default, which benchmarks
// faster than the cgo ring, or with -tags cgoqueue the C11 ring of mpsc.c,
// one cgo call per batch (queue_go.go and queue_cgo.go pick it; [Impl] names
// it). See the package documentation for the concurrency rules.
type Queue struct{ r *ringImpl }

// New returns a queue holding capacity samples, rounded up to a power of
// two. It fails (wrapping [ErrCapacity]) if capacity is outside
// 1..[MaxCapacity], or if the C ring's memory cannot be allocated.
func New(capacity int) (*Queue, error) {
	r, err := newRing(capacity)
	if err != nil {
		return nil, err
	}
	return &Queue{r: r}, nil
}

// PushBatch copies as many samples from s as fit, in order, and returns how
// many; s[n:] was not queued. It never blocks and is safe for any number of
// concurrent producers.
func (q *Queue) PushBatch(s []Sample) int { return q.r.PushBatch(s) }

// PopBatch fills dst with the oldest queued samples and returns how many.
// It never blocks. Only one goroutine at a time may pop.
func (q *Queue) PopBatch(dst []Sample) int { return q.r.PopBatch(dst) }

// Len returns the number of queued samples, including any a producer has
// reserved but not yet finished copying in. It is a snapshot.
func (q *Queue) Len() int { return q.r.Len() }

// Cap returns the capacity (the rounded-up power of two).
func (q *Queue) Cap() int { return q.r.Cap() }

// Stats returns the lifetime counters; after Close, their final values.
func (q *Queue) Stats() Stats { return q.r.Stats() }

// Close drops the ring's memory. It is idempotent and always returns nil.
// It must not run concurrently with any other method; afterwards PushBatch
// and PopBatch return 0 and Len returns 0.
func (q *Queue) Close() error { return q.r.Close() }
