package spool

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// ErrDiskFull is returned by Append when the batch would eat into the disk
// reserve: the batch is not stored, and counted (Stats.DiskDropped).
var ErrDiskFull = errors.New("spool: disk reserve reached")

// Badger's sizes (openBadger) and what they imply for the disk reserve.
//
// Badger maps its write-ahead logs (.mem, 2×memTableSize each) and the
// tables it writes (flushes and compactions) into memory. The patched
// Badger allocates their blocks before writing (a full disk is ENOSPC, not
// a SIGBUS), and a write that fails so is retried; so that Badger's own
// writes do not fail, the spool never lets its own writes eat into a
// reserve that covers everything Badger may still write on its own: the
// next memtable's log, every immutable memtable flushed to a table, and a
// compaction's output before its inputs are deleted.
const (
	memTableSize  = 1 << 20
	numMemtables  = 2
	baseTableSize = 512 << 10

	// MinDiskReserve is the smallest reserve accepted.
	MinDiskReserve = 2*numMemtables*memTableSize + 4*baseTableSize
	// DefaultDiskReserve is the default: the minimum plus 2 MiB of room
	// for the state file, MANIFEST rewrites and other programs' logs.
	DefaultDiskReserve = MinDiskReserve + 2<<20
)

// diskFree returns the bytes available to this process in dir's file
// system.
func diskFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("spool: statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// DiskFree returns the bytes available in the spool's file system.
func (s *Spool) DiskFree() (int64, error) { return diskFree(s.opts.Dir) }

// Reserve is the free space the spool leaves untouched.
func (s *Spool) Reserve() int64 { return s.opts.DiskReserve }

// Room reports whether n more bytes fit above reserve (a caller's own
// reserve, at least the spool's): the raw history asks with a larger one
// so that it yields the disk to the spool first.
func (s *Spool) Room(n, reserve int64) (bool, error) {
	free, err := s.DiskFree()
	if err != nil {
		return false, err
	}
	return free-n >= max(reserve, s.opts.DiskReserve), nil
}

// checkDiskLocked makes room for a batch of n bytes that would eat into
// the disk reserve, or refuses it, counting either, and keeps Stats.Bound
// and the 80 % warning up to date. A full disk drops the oldest batches
// first: as many as hold at least n bytes, deleted before the new one is
// stored. Deleting from an LSM frees nothing at once (a tombstone, and the
// space only after a compaction), but the new batch needs no new disk
// space at once either: it goes into the memtable, whose write-ahead log
// was allocated when the memtable was made (the third_party Badger patch).
// The space comes back when the memtable is flushed and the tree
// compacted (reclaimLocked, at most every reclaimEvery), and both write
// into the reserve, which is sized for them. With nothing to drop (every
// batch shipped: the raw history or another program filled the disk) the
// new batch is refused.
func (s *Spool) checkDiskLocked(seq uint64, n int64) error {
	free, err := s.DiskFree()
	if err != nil {
		// Cannot tell: store it (Badger reports real errors itself).
		s.log.Warn("spool: cannot read free disk space", "err", err)
		s.bound = s.opts.MaxBytes
		return nil
	}
	if free-n < s.opts.DiskReserve && s.reclaimLocked() {
		if f, err := s.DiskFree(); err == nil {
			free = f
		}
	}
	s.bound = min(s.opts.MaxBytes, max(0, s.bytes+free-s.opts.DiskReserve))
	if free-n < s.opts.DiskReserve && s.dropOldestLocked(n, free) {
		return nil
	}
	if free-n < s.opts.DiskReserve {
		s.diskDrp++
		if !s.fullLog {
			s.log.Error("spool: disk full — not storing new batches until space returns (each counted in spool_disk_dropped_total)",
				"dir", s.opts.Dir, "seq", seq, "bytes", n, "free", free, "reserve", s.opts.DiskReserve, "held", len(s.sizes))
			s.fullLog = true
		}
		return fmt.Errorf("%w: batch %d (%d bytes) dropped, %d bytes free, reserve %d", ErrDiskFull, seq, n, free, s.opts.DiskReserve)
	}
	if s.fullLog || s.rollLog {
		s.log.Info("spool: disk has room again; storing batches without dropping any", "dir", s.opts.Dir, "free", free, "dropped", s.diskDrp)
		s.fullLog, s.rollLog = false, false
	}
	used := s.bytes + n
	switch {
	case !s.warned && used*10 >= s.bound*8:
		s.warned = true
		s.log.Warn("spool at 80% of its bound; the oldest batches go first when it is full",
			"dir", s.opts.Dir, "bytes", used, "bound", s.bound, "max_bytes", s.opts.MaxBytes, "free", free, "reserve", s.opts.DiskReserve)
	case s.warned && used*10 < s.bound*7:
		s.warned = false
	}
	return nil
}

// dropOldestLocked deletes the oldest batches until the bytes deleted
// cover n, counting each (Stats.DiskDropped), and reports whether they
// did. It deletes nothing when the batches held are too few.
func (s *Spool) dropOldestLocked(n, free int64) bool {
	if s.bytes < n {
		return false
	}
	var freed int64
	var first, last uint64
	k := 0
	for freed < n && len(s.sizes) > 0 {
		old := s.oldestLocked()
		sz := s.sizes[old]
		if err := s.deleteLocked(old); err != nil {
			// Badger could not take even a delete (another program
			// filled the disk): the caller refuses the batch and logs
			// that once.
			break
		}
		if first == 0 {
			first = old
		}
		last = old
		freed += sz
		k++
	}
	s.diskDrp += uint64(k)
	if k > 0 && !s.rollLog {
		s.rollLog = true // one line until space returns
		s.log.Warn("spool: disk at the reserve — dropped the oldest batches to store the newest (counted in spool_disk_dropped_total)",
			"dir", s.opts.Dir, "dropped", k, "first_seq", first, "last_seq", last, "bytes", freed, "free", free, "reserve", s.opts.DiskReserve)
	}
	return freed >= n
}

// reclaimEvery rate-limits reclaimLocked; reclaimFlushWait bounds how long
// it waits for its flush (holding the spool's lock).
const (
	reclaimEvery     = 20 * time.Second
	reclaimFlushWait = 5 * time.Second
)

// reclaimLocked gives back the disk space of deleted batches and history
// minutes when the disk is at the reserve. Badger frees a deleted key's
// space only when a compaction rewrites its table, and compactions follow
// writes: on a disk the spool no longer writes to, nothing would ever be
// freed, even after the uplink returned and every batch was acknowledged.
// So it flushes the memtables (FlushMemTable, added by the third_party
// Badger patch; a flush that fails for a full disk is an error, and Badger
// keeps retrying it) and compacts every level into one (Flatten), which
// drops the deleted keys. Both write new tables into the reserve, which is
// sized for that. It reports whether it ran.
func (s *Spool) reclaimLocked() bool {
	if s.deleted == 0 || time.Since(s.reclaimed) < reclaimEvery {
		return false
	}
	s.reclaimed, s.deleted = time.Now(), 0
	err := safely("reclaim", func() error {
		if err := s.db.FlushMemTable(reclaimFlushWait); err != nil {
			return err
		}
		return s.db.Flatten(1)
	})
	if err != nil {
		s.log.Warn("spool: reclaiming the space of deleted batches", "err", err)
	} else {
		s.log.Info("spool: compacted to give back the space of deleted batches", "dir", s.opts.Dir)
	}
	return true
}
