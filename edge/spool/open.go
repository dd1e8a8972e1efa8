package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Opening a damaged spool. Badger reports some damage as errors, panics on
// some (a truncated table) and silently skips some (a table whose blocks
// fail their checksums; a write-ahead log cut short by garbage; a
// truncated MANIFEST that forgets tables). The spool checks every table's
// checksums before Badger opens them (tables.go); a damaged table, an
// error or a panic of Badger's open all lead to the same recovery: read
// every batch the tables still hold, move the damaged directory aside
// (dir.corrupt-<unix nanoseconds>), start a fresh spool holding the
// batches read, and count and log the batches that are gone (the state
// file says how many the spool held). Raw history in the damaged spool is
// not copied: it is detail on demand.

// errPanic marks a panic inside Badger turned into an error.
var errPanic = errors.New("badger panicked")

// safely runs f, turning a panic into an error.
func safely(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w during %s: %v", errPanic, what, r)
		}
	}()
	return f()
}

func openBadger(opts Options, log *slog.Logger) (db *badger.DB, err error) {
	// Writes are not synced by Badger; Append syncs explicitly (see the
	// package doc): deletes need no fsync.
	bo := badger.DefaultOptions(opts.Dir).
		WithSyncWrites(opts.syncAll).
		WithLogger(newLimitedLogger(opts, badgerLogger{log})).
		// A small footprint: the spool holds kilobytes per minute, the
		// raw history ~100 KB. Each memtable costs about 1.3× its size
		// of heap plus its mapped log (disk.go has the reserve these
		// sizes imply); the largest batch one transaction takes is 15 %
		// of a memtable (157 KB, ~1200 series): larger batches go to
		// the value log (ValueThreshold), which gcValueLog reclaims.
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithBaseTableSize(baseTableSize).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4).
		WithValueLogFileSize(16 << 20).
		WithValueThreshold(128 << 10).
		// No caches: the spool reads a block about once (the forwarder
		// reads each batch once; a history query reads its minutes
		// once), so a read decompresses its block into a buffer of its
		// own (patched Badger allows that with compression). The index
		// cache is only used with encryption (a table's index is read
		// from its mapping); each ristretto cache cost ~0.3 MB of heap
		// besides its contents.
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		WithDetectConflicts(false).
		// Every block read is checked against its checksum, so damage
		// is an error where it is read instead of silently wrong data.
		WithChecksumVerificationMode(options.OnBlockRead)
	err = safely("open", func() error {
		db, err = badger.Open(bo)
		return err
	})
	return db, err
}

// openChecked checks every table of the spool (tables.go) and opens it.
// Any failure is returned as the damage to recover from.
func openChecked(opts Options, log *slog.Logger) (*badger.DB, error) {
	listed, err := checkManifest(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := checkTables(opts.Dir, listed); err != nil {
		return nil, err
	}
	return openBadger(opts, log)
}

// salvaged is what could be read from a damaged spool.
type salvaged struct {
	batches map[uint64][]byte
	seq     uint64 // the sequence key, 0 if unreadable
	errs    int    // tables or batches that could not be read
}

// recoverDamaged moves the damaged spool aside, opens a fresh one and
// writes the salvaged batches back under their sequence numbers.
func recoverDamaged(opts Options, log *slog.Logger, cause error) (*badger.DB, salvaged, error) {
	sv := salvageTables(opts.Dir)
	aside := fmt.Sprintf("%s.corrupt-%d", opts.Dir, time.Now().UnixNano())
	log.Error("spool damaged; moving it aside and starting a fresh one with the batches still readable",
		"dir", opts.Dir, "aside", aside, "readable_batches", len(sv.batches), "unreadable_batches", sv.errs, "err", cause)
	if err := os.Rename(opts.Dir, aside); err != nil {
		return nil, sv, fmt.Errorf("spool: open %s: %w; moving it aside failed: %w", opts.Dir, cause, err)
	}
	fresh, err := openBadger(opts, log)
	if err != nil {
		return nil, sv, fmt.Errorf("spool: open a fresh spool in %s after moving the damaged one aside: %w", opts.Dir, err)
	}
	for seq, v := range sv.batches {
		if err := fresh.Update(func(txn *badger.Txn) error { return txn.Set(batchKey(seq), v) }); err != nil {
			fresh.Close()
			return nil, sv, fmt.Errorf("spool: copy salvaged batch %d: %w", seq, err)
		}
	}
	if err := fresh.Sync(); err != nil {
		fresh.Close()
		return nil, sv, fmt.Errorf("spool: sync salvaged batches: %w", err)
	}
	return fresh, sv, nil
}
