package queue

// chanQueue is the baseline the rings are measured against: a buffered
// channel behind the same API, one non-blocking channel operation per
// sample.
type chanQueue struct {
	ch   chan Sample
	size int
}

func newChanQueue(capacity int) (*chanQueue, error) {
	size, err := roundCapacity(capacity)
	if err != nil {
		return nil, err
	}
	return &chanQueue{ch: make(chan Sample, size), size: size}, nil
}

func (q *chanQueue) PushBatch(s []Sample) int {
	for i := range s {
		select {
		case q.ch <- s[i]:
		default:
			return i
		}
	}
	return len(s)
}

func (q *chanQueue) PopBatch(dst []Sample) int {
	for i := range dst {
		select {
		case dst[i] = <-q.ch:
		default:
			return i
		}
	}
	return len(dst)
}

func (q *chanQueue) Len() int     { return len(q.ch) }
func (q *chanQueue) Cap() int     { return q.size }
func (q *chanQueue) Close() error { return nil }
