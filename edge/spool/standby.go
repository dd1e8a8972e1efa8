package spool

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A spool that cannot open because its file system is full (ErrDiskFull:
// no room for Badger's write-ahead log) is not damage, and the agent runs
// on without it, holding a few windows in memory (edge/agent outbox.go).
// Those windows still need sequence numbers that never go back below one
// issued, across restarts too: a [Sequencer] issues them from the spool's
// state file alone, and once the spool opens, [Spool.Adopt] stores the
// held batches under the numbers they were given.

// IsDiskFull reports whether err is a full file system: ErrDiskFull, or
// ENOSPC from anywhere on the way (the state file, the directory).
func IsDiskFull(err error) bool {
	return errors.Is(err, ErrDiskFull) || errors.Is(err, syscall.ENOSPC)
}

// DiskFreeAt returns the bytes available to this process in the file
// system holding dir, or its nearest existing parent (a spool directory
// not made yet).
func DiskFreeAt(dir string) (int64, error) {
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			return diskFree(dir)
		}
		dir = filepath.Dir(dir)
	}
}

// Sequencer issues batch sequence numbers from the state file of a spool
// that is not open (state.go): the first number is the state file's
// synced reservation — above every number the spool ever issued, even one
// whose state write a power cut lost — and each number is written to the
// state file before it is returned, so the spool, once it opens, and a
// Sequencer after a restart both continue above it. The state file's two
// slots are allocated when it is made, so these writes need no new block
// of the full disk; every seqReserve numbers one is synced.
//
// Without a state file (none, and none can be made on the full disk) the
// numbers come from the clock in milliseconds, as a fresh spool's do: at
// most one window a second keeps them above any issued before.
//
// Not safe for concurrent use.
type Sequencer struct {
	sf   *stateFile // nil: clock only
	held int        // batches the state file says the spool holds, unchanged
	last uint64
}

// OpenSequencer opens the state file of the spool in dir. An error
// (the state file cannot be read or made) still returns a Sequencer,
// which numbers from the clock: the caller logs the error.
func OpenSequencer(dir string) (*Sequencer, error) {
	sf, prev, ok, err := openState(dir + ".state")
	if err != nil {
		return &Sequencer{last: uint64(time.Now().UnixMilli())}, err
	}
	q := &Sequencer{sf: sf}
	if ok {
		q.held = int(prev.held)
		q.last = prev.lastSeq
		if prev.reserved > 0 {
			q.last = max(q.last, prev.reserved-1)
		}
	} else {
		q.last = uint64(time.Now().UnixMilli())
	}
	return q, nil
}

// Next issues the next sequence number. An error says the number could
// not be written to the state file; it is issued all the same, above the
// clock, so a restart that misses it starts above it too.
func (q *Sequencer) Next() (uint64, error) {
	seq := q.last + 1
	if q.sf == nil {
		seq = max(seq, uint64(time.Now().UnixMilli()))
		q.last = seq
		return seq, nil
	}
	if err := q.sf.write(seq, q.held); err != nil {
		seq = max(seq, uint64(time.Now().UnixMilli()))
		q.last = seq
		return seq, err
	}
	q.last = seq
	return seq, nil
}

// Above makes the next number greater than n (the last one another
// Sequencer on the same state file issued).
func (q *Sequencer) Above(n uint64) { q.last = max(q.last, n) }

// Held is how many batches the state file says the spool held when it
// was last written (0 without a state file).
func (q *Sequencer) Held() int { return q.held }

// Last is the highest number issued (or the floor the first is above).
func (q *Sequencer) Last() uint64 { return q.last }

// Close releases the state file, for Open to take it over.
func (q *Sequencer) Close() error {
	if q.sf == nil {
		return nil
	}
	err := q.sf.close()
	q.sf = nil
	return err
}

// Adopt stores a batch under a sequence number a [Sequencer] issued while
// the spool could not open (the agent held it in memory). The number is
// the spool's own from then on: Next hands it out in order, Ack forgets
// it. The disk reserve applies as in Append (the oldest batches go first,
// or the batch is refused: ErrDiskFull, counted in Stats.DiskDropped). A
// number the spool already holds is kept as it is.
func (s *Spool) Adopt(seq uint64, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sizes[seq]; ok {
		return nil
	}
	if err := s.checkDiskLocked(seq, int64(len(data))); err != nil {
		return err
	}
	return s.storeLocked("adopt", seq, max(s.lastSeq, seq), data)
}
