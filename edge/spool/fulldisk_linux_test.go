package spool

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/edgepulse/edgepulse/edge/internal/tmpfs"
)

// TestDiskFilledByAnotherProgram fills the spool's file system behind its
// back, after its free-space check, so that Badger's own writes meet a
// full disk: the memtable's write-ahead log, a new memtable, a flush.
// Badger writes those through shared mappings of files it extends with
// ftruncate; upstream, storing into such a hole on a full file system is
// a SIGBUS that kills the process (this test binary). With the
// edge/third_party/badger patch every mapped range has its blocks allocated
// first, so the full disk is an error, and once space returns the writes
// go on and nothing that was acknowledged is missing. Closing on the full
// disk does not hang, and opening there is refused as a full disk
// (ErrDiskFull), not taken for damage.
func TestDiskFilledByAnotherProgram(t *testing.T) {
	fs := tmpfs.Mount(t, 16<<20)
	dir := filepath.Join(fs, "spool")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(Options{Dir: dir, DiskReserve: MinDiskReserve}, log)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]byte, 20_000)
	for i := range batch {
		batch[i] = byte(i * 7)
	}
	var seqs []uint64
	for range 3 {
		seq, err := s.Append(func(uint64) ([]byte, error) { return batch, nil })
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if err := s.Ack(seqs[0]); err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(fs, "filler")
	tmpfs.Fill(t, filler)
	if free, _ := s.DiskFree(); free > 64<<10 {
		t.Fatalf("%d bytes still free after filling the disk", free)
	}
	// The spool's own check drops the oldest batch for the new one: it
	// goes into the memtable, whose log has its blocks.
	if _, err := s.Append(func(uint64) ([]byte, error) { return batch, nil }); err != nil {
		t.Fatalf("Append on a full disk with a batch to drop: %v", err)
	}
	if st := s.Stats(); st.DiskDropped != 1 || st.Batches != 2 {
		t.Fatalf("after an Append on the full disk: %+v, want 1 disk drop, 2 batches", st)
	}
	// Writes that got past a check before the disk filled (the raw
	// history's minute, a delete): 1 KiB entries until Badger needs a
	// block it cannot have. The current memtable's log was allocated
	// when the memtable was made, so some go in; then the next memtable
	// cannot be made.
	db := s.DB()
	val := make([]byte, 1024)
	key := func(i int) []byte { return fmt.Appendf(nil, "x%06d", i) }
	written := 0
	var werr error
	for i := 0; i < 4096; i++ {
		if werr = db.Update(func(txn *badger.Txn) error { return txn.Set(key(i), val) }); werr != nil {
			break
		}
		written++
	}
	if werr == nil {
		t.Fatalf("4 MiB written into a full file system without an error")
	}
	t.Logf("on the full disk: %d KiB written into the preallocated log, then: %v", written, werr)
	// A flush on the full disk fails (the flusher keeps retrying).
	if err := db.FlushMemTable(2 * time.Second); err == nil {
		t.Fatalf("a memtable flush on a full disk reported no error")
	}

	// Stopping on the full disk: Close must not hang on the memtable it
	// cannot flush (its log stays and is replayed), and a restart on the
	// full disk is refused as a full disk, not taken for damage: nothing
	// is moved aside.
	if err := s.Close(); err != nil {
		t.Logf("close on the full disk: %v", err)
	}
	if _, err := Open(Options{Dir: dir, DiskReserve: MinDiskReserve}, log); !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("open on the full disk: %v, want ErrDiskFull wrapping ENOSPC", err)
	}
	if aside, _ := filepath.Glob(dir + ".corrupt-*"); len(aside) > 0 {
		t.Fatalf("a full disk was taken for damage: %v", aside)
	}

	// Space returns: the spool opens with everything acknowledged, and
	// writes and flushes go through.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir, DiskReserve: MinDiskReserve}, log)
	if err != nil {
		t.Fatal(err)
	}
	db = s.DB()
	more := written
	for ; more < written+64; more++ {
		i := more
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(key(i), val) }); err != nil {
			t.Fatalf("write %d after space returned: %v", i, err)
		}
	}
	if err := db.FlushMemTable(30 * time.Second); err != nil {
		t.Fatalf("flush after space returned: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything acknowledged is there after a reopen: the batches not
	// acked and every key whose write returned nil.
	s, err = Open(Options{Dir: dir, DiskReserve: MinDiskReserve}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Batches != 2 || st.Lost != 0 || st.Recovered != 0 {
		t.Fatalf("after reopen: %+v, want 2 batches, none lost or recovered", st)
	}
	n := 0
	err = s.DB().View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("x")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != more {
		t.Fatalf("%d keys after reopen, want the %d whose writes succeeded", n, more)
	}
}
