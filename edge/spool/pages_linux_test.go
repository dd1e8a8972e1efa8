package spool

import (
	"bufio"
	"bytes"
	crand "crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// tableRSS sums the resident kB of this process's mappings of dir's .sst
// files, and counts those mappings.
func tableRSS(t *testing.T, dir string) (kb, maps int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// A mapping's header line: "lo-hi perms offset dev inode [path]";
		// an anonymous mapping has no path and ends the one before it.
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			in = len(fs) >= 6 && filepath.Dir(fs[5]) == dir && strings.HasSuffix(fs[5], ".sst")
			if in {
				maps++
			}
			continue
		}
		if in && len(fs) >= 2 && fs[0] == "Rss:" {
			n, _ := strconv.Atoi(fs[1])
			kb += n
		}
	}
	return kb, maps
}

// pageoutWorks reports whether MADV_PAGEOUT takes a touched file mapping
// out of this process's RSS: the platform check for TestReleasePages.
func pageoutWorks(t *testing.T) bool {
	t.Helper()
	const size = 1 << 20
	path := filepath.Join(t.TempDir(), "probe.sst")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	// Written through a shared mapping, as Badger writes its tables.
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	for i := 0; i < size; i += os.Getpagesize() {
		m[i] = 1
	}
	return adviceDrops(t, path, m, madvPageout, "MADV_PAGEOUT")
}

// probeSink keeps the probe's reads from being optimised away.
var probeSink byte

// adviceDrops gives the probe mapping m of path (every page resident) the
// madvise advice and reports whether that took it out of the RSS.
func adviceDrops(t *testing.T, path string, m []byte, advice uintptr, name string) bool {
	t.Helper()
	before, _ := tableRSS(t, filepath.Dir(path))
	_, _, e := syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), advice)
	after, _ := tableRSS(t, filepath.Dir(path))
	t.Logf("probe mapping: %d kB resident before %s, %d kB after (errno %d)", before, name, after, e)
	return e == 0 && before > 0 && after < before
}

// TestReleasePages writes batches until Badger has flushed tables (written
// through their mapping, so resident), pages them out, and checks that
// they left the RSS and that every batch still reads back intact.
func TestReleasePages(t *testing.T) {
	if !pageoutWorks(t) {
		t.Skip("MADV_PAGEOUT leaves a file mapping resident here (qemu-user accepts the advice and ignores it; kernels before 5.4)")
	}
	dir, _ := filepath.Abs(filepath.Join(t.TempDir(), "spool"))
	s := open(t, dir, 0)
	defer s.Close()
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: inline, below ValueThreshold
	want := map[uint64][]byte{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		q, err := s.Append(func(seq uint64) ([]byte, error) {
			return append([]byte(strconv.FormatUint(seq, 10)+":"), big...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want[q] = append([]byte(strconv.FormatUint(q, 10)+":"), big...)
		if kb, _ := tableRSS(t, dir); kb > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no resident table after %d batches", len(want))
		}
	}
	before, maps := tableRSS(t, dir)
	// Pages still dirty or under writeback are written back first and
	// reclaimed only afterwards: a table Badger has just finished may need
	// a second pass (the agent pages out once a minute); on a loaded
	// machine the writeback of a table just written can take seconds.
	var n int64
	after := before
	for try := 0; try < 30 && after >= before; try++ {
		if try > 0 {
			time.Sleep(200 * time.Millisecond)
		}
		var err error
		if n, err = s.ReleasePages(); err != nil {
			t.Fatal(err)
		}
		after, _ = tableRSS(t, dir)
	}
	t.Logf("%d table mappings: %d kB resident before, %d kB after; %d bytes advised", maps, before, after, n)
	if n == 0 || after >= before {
		t.Fatalf("tables still resident: %d kB before, %d kB after (%d bytes advised)", before, after, n)
	}
	readsBack(t, s, want, "after paging out")
}

// readsBack reads every batch of s and fails unless they are exactly
// want's (which it empties); when says at what point of the test.
func readsBack(t *testing.T, s *Spool, want map[uint64][]byte, when string) {
	t.Helper()
	for after := uint64(0); ; {
		q, b, ok, err := s.Next(after)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if !bytes.Equal(b, want[q]) {
			t.Fatalf("batch %d reads back different %s", q, when)
		}
		delete(want, q)
		after = q
	}
	if len(want) != 0 {
		t.Fatalf("%d batches missing %s", len(want), when)
	}
}

// dontneedWorks reports whether MADV_DONTNEED takes a read file mapping
// out of this process's RSS: the platform check for
// TestReadsLeaveNoTablePages (qemu-user accepts the advice and ignores it).
func dontneedWorks(t *testing.T) bool {
	t.Helper()
	const size = 1 << 20
	path := filepath.Join(t.TempDir(), "probe.sst")
	if err := os.WriteFile(path, bytes.Repeat([]byte{1}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	var sum byte
	for i := 0; i < size; i += os.Getpagesize() {
		sum += m[i]
	}
	probeSink = sum
	return adviceDrops(t, path, m, syscall.MADV_DONTNEED, "MADV_DONTNEED")
}

// TestReadsLeaveNoTablePages: reading every batch of a reopened spool
// goes through every block of its tables; each compressed block is
// decompressed into a buffer of its own and its pages in the table's
// mapping are dropped at once (patched Badger, y.DropPages), so the
// tables' resident pages stay a small part of their size. Without the
// patch the whole tables stay resident until the agent's next page-out.
func TestReadsLeaveNoTablePages(t *testing.T) {
	if !dontneedWorks(t) {
		t.Skip("MADV_DONTNEED leaves a file mapping resident here (qemu-user)")
	}
	dir, _ := filepath.Abs(filepath.Join(t.TempDir(), "spool"))
	s := open(t, dir, 0)
	// Half-compressible batches (hex text of random bytes), 64 KiB each:
	// inline in the tables (below ValueThreshold), 8 MiB in all.
	rnd := make([]byte, 32<<10)
	want := map[uint64][]byte{}
	for range 128 {
		if _, err := crand.Read(rnd); err != nil {
			t.Fatal(err)
		}
		b := []byte(hex.EncodeToString(rnd))
		q, err := s.Append(func(uint64) ([]byte, error) { return b, nil })
		if err != nil {
			t.Fatal(err)
		}
		want[q] = b
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 0)
	defer s.Close()
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	var size int64
	for _, p := range ssts {
		if fi, err := os.Stat(p); err == nil {
			size += fi.Size()
		}
	}
	if size < 2<<20 {
		t.Fatalf("%d tables of %d bytes: the batches did not reach the tables", len(ssts), size)
	}
	opened, _ := tableRSS(t, dir)
	readsBack(t, s, want, "after reading every batch")
	read, maps := tableRSS(t, dir)
	t.Logf("%d tables, %d kB: %d kB resident after the open, %d kB after reading every batch (%d mappings)", len(ssts), size>>10, opened, read, maps)
	if int64(read) > size>>10/4 {
		t.Fatalf("%d kB of %d kB of tables resident after reading every batch, want under a quarter", read, size>>10)
	}
}

// TestNewestTable: NewestTable follows the tables Badger writes (it is
// the ID of db.Tables()'s newest) without reading their indexes through
// the mappings, as db.Tables() does.
func TestNewestTable(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join(t.TempDir(), "spool"))
	s := open(t, dir, 0)
	defer s.Close()
	if id := s.NewestTable(); id != 0 {
		t.Fatalf("NewestTable of an empty spool: %d, want 0", id)
	}
	newest := func() uint64 {
		var id uint64
		for _, ti := range s.DB().Tables() {
			id = max(id, ti.ID)
		}
		return id
	}
	for round := range 3 {
		if _, err := s.Append(func(uint64) ([]byte, error) { return bytes.Repeat([]byte{byte(round)}, 4096), nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.DB().FlushMemTable(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		want := newest()
		if want == 0 {
			t.Fatalf("round %d: no table after a flush", round)
		}
		if _, err := s.ReleasePages(); err != nil {
			t.Fatal(err)
		}
		before, _ := tableRSS(t, dir)
		got := s.NewestTable()
		after, _ := tableRSS(t, dir)
		// A compaction (two level-0 tables start one) may write a newer
		// table meanwhile: the answer lies between the two looks, and the
		// new table's pages are its writer's, not NewestTable's.
		later := newest()
		if got < want || got > later {
			t.Fatalf("round %d: NewestTable %d, want %d..%d (db.Tables())", round, got, want, later)
		}
		if later == want && after > before {
			t.Errorf("round %d: NewestTable made %d kB of tables resident (%d kB before)", round, after-before, before)
		}
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestTableChecksLeakNoFiles: opening a spool checks every table through
// a read-only mapping of its own (checkTables), and a salvage reads them
// (salvageTables); each must close its file. Releasing them with Badger's
// DecrRef left one descriptor per table per open (its delete fails on a
// read-only file before the close), which a spool retried every 30 s on a
// full disk would run out of.
func TestTableChecksLeakNoFiles(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join(t.TempDir(), "spool"))
	s := open(t, dir, 0)
	for round := range 4 {
		if _, err := s.Append(func(uint64) ([]byte, error) { return bytes.Repeat([]byte{byte(round)}, 4096), nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.DB().FlushMemTable(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	// Badger may have merged the flushed tables already (it does under
	// qemu); one table still leaks one descriptor per check.
	if len(ssts) == 0 {
		t.Fatal("no table after four flushes")
	}
	before := openFDs(t)
	for range 3 {
		listed, err := checkManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkTables(dir, listed); err != nil {
			t.Fatal(err)
		}
		if sv := salvageTables(dir); len(sv.batches) != 4 || sv.errs != 0 {
			t.Fatalf("salvage read %d batches (%d errors), want 4", len(sv.batches), sv.errs)
		}
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d open files after checking and salvaging %d tables 3 times, %d before", after, len(ssts), before)
	}
	if now, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(now) != len(ssts) {
		t.Fatalf("%d tables after the checks, %d before", len(now), len(ssts))
	}
}
