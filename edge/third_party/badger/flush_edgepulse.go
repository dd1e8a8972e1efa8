package badger

import (
	"errors"
	"fmt"
	"time"
)

// FlushMemTable (edgepulse patch) hands the mutable memtable to the
// flusher, as a full one would be, and waits up to wait until every
// immutable memtable is written as a level-0 table. Upstream Badger has no
// flush short of Close; DropPrefix of a marker key flushes too, but a
// failed flush there (a full disk, now an error instead of a SIGBUS, see
// y.Preallocate) leaves its memtables half released. Here the next
// memtable is created first (a failure changes nothing), and a failed
// flush is the flusher's, which keeps the memtable and retries every
// second: FlushMemTable then returns an error when wait has passed.
func (db *DB) FlushMemTable(wait time.Duration) error {
	if db.opt.ReadOnly || db.opt.InMemory {
		return errors.New("badger: FlushMemTable on a read-only or in-memory database")
	}
	db.lock.Lock()
	if db.IsClosed() || db.mt == nil {
		db.lock.Unlock()
		return ErrDBClosed
	}
	if !db.mt.sl.Empty() {
		next, err := db.newMemTable()
		if err != nil {
			db.lock.Unlock()
			return fmt.Errorf("badger: flush: creating the next memtable: %w", err)
		}
		select {
		case db.flushChan <- db.mt:
			db.imm = append(db.imm, db.mt)
			db.mt = next
		default:
			db.lock.Unlock()
			next.DecrRef() // deletes its log
			return errors.New("badger: flush: the flush queue is full")
		}
	}
	db.lock.Unlock()
	deadline := time.Now().Add(wait)
	for {
		db.lock.RLock()
		n := len(db.imm)
		db.lock.RUnlock()
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("badger: flush: %d memtables not written after %v (the flusher retries; a full disk?)", n, wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
