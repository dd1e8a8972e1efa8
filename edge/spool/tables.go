package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Badger opens its tables in goroutines of its own, where a panic on a
// damaged table (a truncated file) cannot be recovered by the caller. So
// the spool checks every table itself first (checkTables), in its own
// goroutine, and never hands Badger a directory with a damaged table;
// such a spool is salvaged by reading its tables directly
// (salvageTables).

// Badger's entry meta bits (badger/v4 value.go).
const (
	metaDelete       = 1 << 0
	metaValuePointer = 1 << 1
)

// tableOptions: every block's checksum is verified as it is read, once
// (checkTables reads each block with VerifyChecksum, salvageTables with
// an iterator); opening checks the index's. OnTableAndBlockRead verified
// a whole table at open too, so checkTables decompressed every block
// twice: ~390 MB allocated in a start on a day of raw history.
func tableOptions() table.Options {
	return table.Options{
		ReadOnly:    true,
		ChkMode:     options.OnBlockRead,
		BlockSize:   4 << 10, // badger.DefaultOptions
		Compression: options.Snappy,
	}
}

// openTable opens one table read-only, turning panics into errors.
func openTable(path string) (t *table.Table, err error) {
	err = safely("open table "+filepath.Base(path), func() error {
		mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
		if err != nil && err != z.NewFile {
			return err
		}
		t, err = table.OpenTable(mf, tableOptions())
		return err
	})
	return t, err
}

// closeTable unmaps t and closes its file. A table opened here must not
// be released with DecrRef: at its last reference Badger deletes the file
// (truncate, close, remove), which on the read-only descriptor fails at
// the truncate and left the descriptor open, one per table per open.
func closeTable(t *table.Table) {
	_ = t.Close(-1)
}

// checkManifest catches a damaged MANIFEST before Badger sees it: Badger
// opens a MANIFEST cut short as if the tables it no longer lists never
// existed, and deletes them. It is damage when the MANIFEST cannot be
// replayed, or when tables exist that it does not list while it lists
// none or ends in a torn entry. (A crash between writing a table and
// listing it leaves such a table too; salvaging then costs only what the
// write-ahead log held, counted.) It returns the IDs of the tables the
// MANIFEST lists.
func checkManifest(dir string) (map[uint64]bool, error) {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	f, err := os.Open(filepath.Join(dir, "MANIFEST"))
	if errors.Is(err, fs.ErrNotExist) {
		if len(paths) > 0 {
			return nil, fmt.Errorf("MANIFEST missing beside %d tables", len(paths))
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var m badger.Manifest
	var end int64
	err = safely("replay MANIFEST", func() error {
		m, end, err = badger.ReplayManifestFile(f, 0, badger.DefaultOptions(dir))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("MANIFEST: %w", err)
	}
	listed := make(map[uint64]bool, len(m.Tables))
	for id := range m.Tables {
		listed[id] = true
	}
	var orphans []string
	for _, p := range paths {
		id, ok := table.ParseFileID(filepath.Base(p))
		if _, listed := m.Tables[id]; ok && !listed {
			orphans = append(orphans, filepath.Base(p))
		}
	}
	if len(orphans) > 0 && (len(m.Tables) == 0 || end < fi.Size()) {
		return nil, fmt.Errorf("MANIFEST (%d bytes, %d readable) lists %d tables; %v are not listed and Badger would delete them",
			fi.Size(), end, len(m.Tables), orphans)
	}
	return listed, nil
}

// checkTables opens every table in dir that the MANIFEST lists and
// verifies its checksums; it returns the first failure. A table it does
// not list is one a SIGKILL interrupted (a flush or compaction writing
// it): possibly cut short, its entries still in the write-ahead log or in
// the tables it was compacted from, and Badger deletes it on open.
func checkTables(dir string, listed map[uint64]bool) error {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	for _, p := range paths {
		if id, ok := table.ParseFileID(filepath.Base(p)); ok && !listed[id] {
			continue
		}
		t, err := openTable(p)
		if err == nil {
			err = safely("verify table "+filepath.Base(p), t.VerifyChecksum)
			closeTable(t)
		}
		if err != nil {
			return fmt.Errorf("table %s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// salvageTables reads the newest version of every batch and of the
// sequence key from the tables of dir that can be read (a damaged table
// yields what precedes its damage). Entries only in the write-ahead log
// and batches kept in the value log are not recovered: the caller counts
// them lost from the state file.
func salvageTables(dir string) salvaged {
	type entry struct {
		version uint64
		meta    byte
		value   []byte
	}
	newest := map[string]entry{}
	sv := salvaged{batches: make(map[uint64][]byte)}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	slices.Sort(paths)
	for _, p := range paths {
		t, err := openTable(p)
		if err != nil {
			sv.errs++
			continue
		}
		safely("read table "+filepath.Base(p), func() error {
			it := t.NewIterator(0)
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				k := y.ParseKey(it.Key())
				if !bytes.HasPrefix(k, prefixBatch) && !bytes.Equal(k, keySeq) {
					continue
				}
				v := it.ValueCopy()
				ver := y.ParseTs(it.Key())
				if e, ok := newest[string(k)]; !ok || ver > e.version {
					newest[string(k)] = entry{ver, v.Meta, v.Value}
				}
			}
			return nil
		})
		closeTable(t)
	}
	for k, e := range newest {
		if e.meta&metaDelete != 0 {
			continue
		}
		if bytes.Equal([]byte(k), keySeq) {
			if len(e.value) == 8 {
				sv.seq = beUint64(e.value)
			}
			continue
		}
		seq, ok := parseKey([]byte(k))
		if !ok {
			continue
		}
		if e.meta&metaValuePointer != 0 {
			sv.errs++ // the batch is in the value log
			continue
		}
		sv.batches[seq] = e.value
	}
	return sv
}
