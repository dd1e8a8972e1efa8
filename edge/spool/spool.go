package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
)

// Options configure a Spool.
type Options struct {
	Dir      string `yaml:"dir"`
	MaxBytes int64  `yaml:"max_bytes"` // bound on stored batch bytes; default 256 MiB
	NoSync   bool   `yaml:"no_sync"`   // skip the fsync per Append (faster; a power cut loses the newest batches and may reissue their sequence numbers)
	// DiskReserve is the free space the spool leaves in its file system
	// (disk.go says why Badger needs it); default DefaultDiskReserve, at
	// least MinDiskReserve.
	DiskReserve int64 `yaml:"disk_reserve"`

	// syncAll makes Badger sync every write, deletes included: the policy
	// before Append synced explicitly, kept for the benchmark comparison.
	syncAll bool
}

// DefaultMaxBytes is the default bound on spooled bytes.
const DefaultMaxBytes = 256 << 20

// Validate names the first bad field.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("spool: dir must be set")
	case o.MaxBytes < 0:
		return fmt.Errorf("spool: max_bytes %d must be ≥ 0 (0 means %d)", o.MaxBytes, DefaultMaxBytes)
	case o.DiskReserve != 0 && o.DiskReserve < MinDiskReserve:
		return fmt.Errorf("spool: disk_reserve %d must be ≥ %d (0 means %d)", o.DiskReserve, MinDiskReserve, DefaultDiskReserve)
	}
	return nil
}

// Stats are the spool's counters.
type Stats struct {
	Batches   int    // batches held
	Bytes     int64  // bytes held
	Dropped   uint64 // batches dropped because the spool was full
	Recovered uint64 // times an unreadable spool was moved aside
	Lost      uint64 // batches held before a restart that were unreadable or gone after it
	// DiskDropped counts batches not stored because the file system's
	// free space was at the reserve.
	DiskDropped uint64
	// Bound is the bytes the spool can hold now: MaxBytes, or less when
	// the file system has less free space above the reserve.
	Bound int64
}

var (
	prefixBatch = []byte("b")
	keySeq      = []byte("m:seq")
)

// Spool is a bounded, durable FIFO of encoded batches.
type Spool struct {
	db    *badger.DB
	state *stateFile
	opts  Options
	log   *slog.Logger

	mu        sync.Mutex
	lastSeq   uint64
	sizes     map[uint64]int64 // seq → size of every held batch
	oldest    uint64
	bytes     int64
	dropped   uint64
	recov     uint64
	lost      uint64
	diskDrp   uint64
	bound     int64
	warned    bool      // the 80 % warning was logged and the spool has not gone below 70 % since
	fullLog   bool      // the disk-full warning was logged and a batch has been stored since
	rollLog   bool      // the oldest-dropped warning was logged and the disk has not had room since
	deleted   int       // batches deleted since the last reclaim
	reclaimed time.Time // last reclaimLocked

	stop chan struct{} // ends gcValueLog
	gcWG sync.WaitGroup
}

// Open opens (or creates) the spool in opts.Dir. A spool Badger cannot
// open (an error or a panic), or whose tables fail their checksums, is
// moved aside and a fresh one started with every batch still readable
// (open.go); batches the spool held but that are gone are counted
// (Stats.Lost) and logged. The sequence counter never goes back below a
// number issued before, whatever happened to the spool (state.go).
func Open(opts Options, log *slog.Logger) (*Spool, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.DiskReserve == 0 {
		opts.DiskReserve = DefaultDiskReserve
	}
	s := &Spool{opts: opts, log: log, sizes: make(map[uint64]int64)}
	if err := os.MkdirAll(filepath.Dir(opts.Dir), 0o755); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	sf, prev, havePrev, err := openState(opts.Dir + ".state")
	if err != nil {
		return nil, err
	}
	existed := true
	if _, serr := os.Stat(opts.Dir); errors.Is(serr, os.ErrNotExist) {
		existed = false
	}
	db, err := openChecked(opts, log)
	if errors.Is(err, syscall.ENOSPC) {
		// A full file system is not damage: nothing is moved aside, and
		// the spool opens as it was once there is room for Badger's new
		// write-ahead log (another program filled the disk: the agent's
		// reserve keeps that room otherwise).
		sf.close()
		return nil, fmt.Errorf("%w: spool: open %s: no room for a %d MiB write-ahead log; nothing moved aside or lost, start again once space returns: %w",
			ErrDiskFull, opts.Dir, 2*memTableSize>>20, err)
	}
	damaged := false
	var sv salvaged
	if err != nil && existed {
		damaged = true
		db, sv, err = recoverDamaged(opts, log, err)
	}
	if err != nil {
		sf.close()
		return nil, fmt.Errorf("spool: open %s: %w", opts.Dir, err)
	}
	if damaged {
		s.recov++
	}
	s.db, s.state = db, sf
	if err := s.load(); err != nil {
		db.Close()
		sf.close()
		return nil, err
	}
	// The sequence: the highest of what Badger says, what the state file
	// says, and — when the spool was damaged — the synced reservation, or
	// the clock if there is no state file either.
	s.lastSeq = max(s.lastSeq, sv.seq)
	if havePrev {
		s.lastSeq = max(s.lastSeq, prev.lastSeq)
		if damaged {
			s.lastSeq = max(s.lastSeq, prev.reserved)
		}
	}
	if s.lastSeq == 0 || (!havePrev && damaged) {
		// A fresh spool: start above anything a lost one could have used.
		s.lastSeq = max(s.lastSeq, uint64(time.Now().UnixMilli()))
	}
	// Batches the spool held that are gone. The held count is written
	// after a batch is stored and before one is deleted, so without loss
	// the spool holds at least as many as the state file says.
	if havePrev && uint64(len(s.sizes)) < prev.held {
		s.lost = prev.held - uint64(len(s.sizes))
		log.Error("spool lost batches: they were held when the agent stopped and are unreadable or gone now",
			"dir", opts.Dir, "lost_batches", s.lost, "held_before", prev.held, "held_now", len(s.sizes),
			"moved_aside", damaged, "last_seq", s.lastSeq)
	}
	if err := sf.write(s.lastSeq, len(s.sizes)); err != nil {
		db.Close()
		sf.close()
		return nil, err
	}
	s.stop = make(chan struct{})
	s.gcWG.Go(func() { s.gcValueLog(s.stop) })
	return s, nil
}

// load reads the sequence counter and the sizes of held batches.
func (s *Spool) load() error {
	return safely("load", func() error { return s.db.View(s.loadTxn) })
}

func (s *Spool) loadTxn(txn *badger.Txn) error {
	item, err := txn.Get(keySeq)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
	case err != nil:
		return fmt.Errorf("spool: read sequence: %w", err)
	default:
		if err := item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("spool: sequence value has %d bytes, want 8", len(v))
			}
			s.lastSeq = beUint64(v)
			return nil
		}); err != nil {
			return err
		}
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixBatch})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		seq, ok := parseKey(it.Item().Key())
		if !ok {
			continue
		}
		n := it.Item().ValueSize()
		s.sizes[seq] = n
		s.bytes += n
		if s.oldest == 0 || seq < s.oldest {
			s.oldest = seq
		}
		s.lastSeq = max(s.lastSeq, seq)
	}
	return nil
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func batchKey(seq uint64) []byte {
	k := make([]byte, 1+8)
	k[0] = prefixBatch[0]
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

func parseKey(k []byte) (uint64, bool) {
	if len(k) != 9 || k[0] != prefixBatch[0] {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[1:]), true
}

// Append assigns the next sequence number, calls build with it to get the
// encoded batch, and stores both in one transaction, synced to disk before
// Append returns (unless Options.NoSync). When the spool then exceeds its
// bound, the oldest batches are dropped and counted. An error after the
// commit (the sync failed) still returns the batch's sequence number: the
// batch is in the spool but may not survive a power loss.
func (s *Spool) Append(build func(seq uint64) ([]byte, error)) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.lastSeq + 1
	data, err := build(seq)
	if err != nil {
		return 0, err
	}
	if err := s.checkDiskLocked(seq, int64(len(data))); err != nil {
		return 0, err
	}
	err = s.storeLocked("append", seq, seq, data)
	if _, stored := s.sizes[seq]; !stored {
		return 0, err
	}
	return seq, err
}

// storeLocked writes batch seq, and last as the sequence key, in one
// transaction, syncs, counts the batch and drops the oldest batches past
// MaxBytes. what ("append", "adopt") names the caller in its errors. A
// batch the disk has no room for (ENOSPC: it filled after
// checkDiskLocked, another program) is counted like one the check
// refused.
func (s *Spool) storeLocked(what string, seq, last uint64, data []byte) error {
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], last)
	err := s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(keySeq, sb[:]); err != nil {
			return err
		}
		return txn.Set(batchKey(seq), data)
	})
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			s.diskDrp++
			return fmt.Errorf("%w: %s batch %d (%d bytes): %w", ErrDiskFull, what, seq, len(data), err)
		}
		return fmt.Errorf("spool: %s seq %d: %w", what, seq, err)
	}
	var syncErr error
	if !s.opts.NoSync && !s.opts.syncAll {
		if err := s.db.Sync(); err != nil {
			syncErr = fmt.Errorf("spool: sync after %s seq %d: %w", what, seq, err)
		}
	}
	s.lastSeq = last
	s.sizes[seq] = int64(len(data))
	s.bytes += int64(len(data))
	if s.oldest == 0 || seq < s.oldest {
		s.oldest = seq
	}
	if err := s.state.write(s.lastSeq, len(s.sizes)); err != nil && syncErr == nil {
		syncErr = err
	}
	for s.bytes > s.opts.MaxBytes && len(s.sizes) > 1 {
		old := s.oldestLocked()
		if err := s.deleteLocked(old); err != nil {
			return err
		}
		s.dropped++
		s.log.Warn("spool full; dropped oldest batch", "seq", old, "max_bytes", s.opts.MaxBytes)
	}
	return syncErr
}

func (s *Spool) oldestLocked() uint64 {
	for s.oldest <= s.lastSeq {
		if _, ok := s.sizes[s.oldest]; ok {
			return s.oldest
		}
		s.oldest++
	}
	return 0
}

func (s *Spool) deleteLocked(seq uint64) error {
	n, ok := s.sizes[seq]
	if !ok {
		return nil
	}
	// The state file's held count goes down before the delete, so a
	// crash between the two never looks like a lost batch on restart.
	if err := s.state.write(s.lastSeq, len(s.sizes)-1); err != nil {
		s.log.Warn("spool state file", "err", err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(batchKey(seq)) }); err != nil {
		return fmt.Errorf("spool: delete seq %d: %w", seq, err)
	}
	delete(s.sizes, seq)
	s.bytes -= n
	s.deleted++
	return nil
}

// Next returns the oldest held batch with a sequence number above after.
// ok is false when there is none.
func (s *Spool) Next(after uint64) (seq uint64, data []byte, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixBatch, PrefetchValues: false})
		defer it.Close()
		for it.Seek(batchKey(after + 1)); it.Valid(); it.Next() {
			q, good := parseKey(it.Item().Key())
			if !good {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			seq, data, ok = q, v, true
			return nil
		}
		return nil
	})
	if err != nil {
		return 0, nil, false, fmt.Errorf("spool: read after seq %d: %w", after, err)
	}
	return seq, data, ok, nil
}

// Ack forgets a batch once it is safely upstream. The delete is not
// synced: if it is lost in a power cut the batch is published again, and
// the stream's de-duplication (same Nats-Msg-Id) stores it once.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLocked(seq)
}

// Stats returns the counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Batches: len(s.sizes), Bytes: s.bytes, Dropped: s.dropped, Recovered: s.recov,
		Lost: s.lost, DiskDropped: s.diskDrp, Bound: s.bound}
}

// LastSeq is the highest sequence number issued.
func (s *Spool) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// NewestTable is the highest ID of the spool's tables, 0 with none. It
// grows each time Badger writes a table: a memtable flush or a compaction.
// It reads the directory's file names: Badger's db.Tables() reads every
// table's index through its mapping (bloom filter and stale-data sizes),
// which put ~30 KB a table, 5.9 MB with a day of raw history, into the
// RSS at each call.
func (s *Spool) NewestTable() uint64 {
	entries, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return 0
	}
	var id uint64
	for _, e := range entries {
		if n, ok := table.ParseFileID(e.Name()); ok {
			id = max(id, n)
		}
	}
	return id
}

// DB is the spool's Badger database, shared with the agent's raw history
// (package history keeps its keys under its own prefix). The spool owns
// it: Close closes it.
func (s *Spool) DB() *badger.DB { return s.db }

// Close closes the underlying Badger and the state file.
func (s *Spool) Close() error {
	close(s.stop)
	s.gcWG.Wait()
	err := s.db.Close()
	if serr := s.state.close(); err == nil {
		err = serr
	}
	return err
}

// badgerLogger routes Badger's log lines to slog, keeping its chatty info
// lines at debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
