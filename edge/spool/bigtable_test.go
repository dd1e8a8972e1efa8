package spool

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// TestTableLargerThanItsBuilder writes a memtable's worth of highly
// compressible entries (raw history is like that), flushes it as one
// table and reopens the spool: the table must pass the spool's checks
// and hold every entry. A table whose data outgrows the builder's first
// buffer used to be written with its first blocks overwritten on 32-bit
// platforms (ristretto's allocator cannot grow there; see
// edge/third_party/badger/table/alloc_edgepulse.go): on armv7 (make
// cross-test) the spool was taken for damaged and moved aside at the next
// start, or Badger found none of the entries. The same with
// incompressible entries: a block whose compressed form is larger than
// its own bytes takes new space instead of being compressed in place
// (edge/third_party/badger/table/builder.go, compressBlock).
func TestTableLargerThanItsBuilder(t *testing.T) {
	zeros := make([]byte, 1024)
	random := make([]byte, 1024*960)
	rand.NewChaCha8([32]byte{1}).Read(random)
	// 960 KiB in a 1 MiB memtable, 2 × the 512 KiB table size; large
	// entries outgrow a block's 4 KiB buffer (the builder grows it).
	for _, c := range []struct {
		name string
		n    int
		val  func(i int) []byte
	}{
		{"compressible", 960, func(int) []byte { return zeros }},
		{"incompressible", 960, func(i int) []byte { return random[i*1024 : (i+1)*1024] }},
		{"large entries", 48, func(i int) []byte { return random[i*20<<10 : (i+1)*20<<10] }},
	} {
		t.Run(c.name, func(t *testing.T) { tableLargerThanItsBuilder(t, c.n, c.val) })
	}
}

func tableLargerThanItsBuilder(t *testing.T, n int, val func(i int) []byte) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, dir, 0)
	key := func(i int) []byte { return fmt.Appendf(nil, "x%06d", i) }
	for i := range n {
		if err := s.DB().Update(func(txn *badger.Txn) error { return txn.Set(key(i), val(i)) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DB().FlushMemTable(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 0)
	defer s.Close()
	if st := s.Stats(); st.Recovered != 0 || st.Lost != 0 {
		t.Fatalf("reopen took the spool for damaged: %+v", st)
	}
	got := 0
	err := s.DB().View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("x")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(v, val(got)) {
				return fmt.Errorf("%s: %d bytes differ from the %d written", it.Item().Key(), len(v), len(val(got)))
			}
			got++
		}
		return nil
	})
	if err != nil || got != n {
		t.Fatalf("after reopen: %d of %d entries, err %v", got, n, err)
	}
}
