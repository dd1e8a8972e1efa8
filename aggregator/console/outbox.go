package console

import "sync"

// outbox is one connection's bounded queue of encoded messages. push never
// blocks: when the queue is full the oldest message is dropped, so a
// browser that reads slowly loses old updates, not the newest, and the
// aggregator's ingest never waits for it.
type outbox struct {
	mu     sync.Mutex
	q      [][]byte // ring of cap slots
	head   int      // index of the oldest message
	n      int
	ready  chan struct{} // signalled (1-buffered) when a message is pushed
	closed bool
}

func newOutbox(capacity int) *outbox {
	return &outbox{q: make([][]byte, capacity), ready: make(chan struct{}, 1)}
}

// push appends msg and reports whether an older message was dropped for it.
func (o *outbox) push(msg []byte) (dropped bool) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return false
	}
	if o.n == len(o.q) {
		o.q[o.head] = nil
		o.head = (o.head + 1) % len(o.q)
		o.n--
		dropped = true
	}
	o.q[(o.head+o.n)%len(o.q)] = msg
	o.n++
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
	return dropped
}

// take removes and returns every waiting message, oldest first.
func (o *outbox) take(buf [][]byte) [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.n > 0 {
		buf = append(buf, o.q[o.head])
		o.q[o.head] = nil
		o.head = (o.head + 1) % len(o.q)
		o.n--
	}
	return buf
}

func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
}
