package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Options configure a Spool.
type Options struct {
	Dir      string `yaml:"dir"`
	MaxBytes int64  `yaml:"max_bytes"` // bound on stored batch bytes; default 256 MiB
	NoSync   bool   `yaml:"no_sync"`   // skip the fsync per Append (faster; a power cut loses the newest batches and may reissue their sequence numbers)

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
	}
	return nil
}

// Stats are the spool's counters.
type Stats struct {
	Batches   int    // batches held
	Bytes     int64  // bytes held
	Dropped   uint64 // batches dropped because the spool was full
	Recovered uint64 // times an unreadable spool was moved aside
}

var (
	prefixBatch = []byte("b")
	keySeq      = []byte("m:seq")
)

// Spool is a bounded, durable FIFO of encoded batches.
type Spool struct {
	db   *badger.DB
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	lastSeq uint64
	sizes   map[uint64]int64 // seq → size of every held batch
	oldest  uint64
	bytes   int64
	dropped uint64
	recov   uint64
}

// Open opens (or creates) the spool in opts.Dir. If Badger cannot open it,
// the directory is moved aside and a fresh spool started.
func Open(opts Options, log *slog.Logger) (*Spool, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	s := &Spool{opts: opts, log: log, sizes: make(map[uint64]int64)}
	db, err := openBadger(opts, log)
	if _, serr := os.Stat(opts.Dir); err != nil && serr == nil {
		aside := fmt.Sprintf("%s.corrupt-%d", opts.Dir, time.Now().Unix())
		log.Error("spool unreadable; moving it aside and starting a fresh one", "dir", opts.Dir, "aside", aside, "err", err)
		if rerr := os.Rename(opts.Dir, aside); rerr != nil {
			return nil, fmt.Errorf("spool: open %s: %w; moving it aside failed: %w", opts.Dir, err, rerr)
		}
		s.recov++
		db, err = openBadger(opts, log)
	}
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", opts.Dir, err)
	}
	s.db = db
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func openBadger(opts Options, log *slog.Logger) (*badger.DB, error) {
	// Writes are not synced by Badger; Append syncs explicitly (see the
	// package doc): deletes need no fsync.
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(opts.syncAll).
		WithLogger(badgerLogger{log}).
		// A small footprint: the spool holds kilobytes per minute.
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithBaseTableSize(1 << 20).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		WithValueLogFileSize(16 << 20).
		WithValueThreshold(256 << 10).
		WithBlockCacheSize(1 << 20).
		WithIndexCacheSize(1 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false)
	return badger.Open(bo)
}

// load reads the sequence counter and the sizes of held batches.
func (s *Spool) load() error {
	return s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keySeq)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			// A fresh spool: start above anything a lost one could have used.
			s.lastSeq = uint64(time.Now().UnixMilli())
		case err != nil:
			return fmt.Errorf("spool: read sequence: %w", err)
		default:
			if err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("spool: sequence value has %d bytes, want 8", len(v))
				}
				s.lastSeq = binary.BigEndian.Uint64(v)
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
		}
		return nil
	})
}

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
	var sb [8]byte
	binary.BigEndian.PutUint64(sb[:], seq)
	err = s.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(keySeq, sb[:]); err != nil {
			return err
		}
		return txn.Set(batchKey(seq), data)
	})
	if err != nil {
		return 0, fmt.Errorf("spool: append seq %d: %w", seq, err)
	}
	var syncErr error
	if !s.opts.NoSync && !s.opts.syncAll {
		if err := s.db.Sync(); err != nil {
			syncErr = fmt.Errorf("spool: sync after append seq %d: %w", seq, err)
		}
	}
	s.lastSeq = seq
	s.sizes[seq] = int64(len(data))
	s.bytes += int64(len(data))
	if s.oldest == 0 {
		s.oldest = seq
	}
	for s.bytes > s.opts.MaxBytes && len(s.sizes) > 1 {
		old := s.oldestLocked()
		if err := s.deleteLocked(old); err != nil {
			return seq, err
		}
		s.dropped++
		s.log.Warn("spool full; dropped oldest batch", "seq", old, "max_bytes", s.opts.MaxBytes)
	}
	return seq, syncErr
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
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Delete(batchKey(seq)) }); err != nil {
		return fmt.Errorf("spool: delete seq %d: %w", seq, err)
	}
	delete(s.sizes, seq)
	s.bytes -= n
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
	return Stats{Batches: len(s.sizes), Bytes: s.bytes, Dropped: s.dropped, Recovered: s.recov}
}

// LastSeq is the highest sequence number issued.
func (s *Spool) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// DB is the spool's Badger database, shared with the agent's raw history
// (package history keeps its keys under its own prefix). The spool owns
// it: Close closes it.
func (s *Spool) DB() *badger.DB { return s.db }

// Close closes the underlying Badger.
func (s *Spool) Close() error { return s.db.Close() }

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
