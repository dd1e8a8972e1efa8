package spool

import (
	"bufio"
	"bytes"
	crand "crypto/rand"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// logBuf collects the spool's log lines.
func logBuf() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// filled returns a closed spool in dir holding n batches of about 2 KB
// (so Close writes tables) with the first acked ones acknowledged, and
// its last sequence number.
func filled(t *testing.T, dir string, n, acked int) uint64 {
	t.Helper()
	s := open(t, dir, 0)
	big := bytes.Repeat([]byte("0123456789abcdef"), 128)
	var seqs []uint64
	for range n {
		q, err := s.Append(func(seq uint64) ([]byte, error) {
			return append([]byte(strconv.FormatUint(seq, 10)+":"), big...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, q)
	}
	for _, q := range seqs[:acked] {
		if err := s.Ack(q); err != nil {
			t.Fatal(err)
		}
	}
	last := s.LastSeq()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return last
}

func newest(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) == 0 {
		t.Fatalf("no %s in %s", pattern, dir)
	}
	slices.Sort(m)
	return m[len(m)-1]
}

// readable counts the batches Next hands out and checks their order.
func readable(t *testing.T, s *Spool) int {
	t.Helper()
	n := 0
	var prev uint64
	for after := uint64(0); ; {
		q, _, ok, err := s.Next(after)
		if err != nil {
			t.Fatalf("Next(%d) after recovery: %v", after, err)
		}
		if !ok {
			return n
		}
		if q <= prev {
			t.Fatalf("replay out of order: %d after %d", q, prev)
		}
		prev, after = q, q
		n++
	}
}

// TestDamagedSpool damages a stopped spool the ways issue 18 found
// (Badger panicked, lost batches silently or forgot the spool) and checks
// that it opens without error or panic, that every batch it held is
// either readable or counted lost (and logged), and that the sequence
// goes on above the last one issued.
func TestDamagedSpool(t *testing.T) {
	const n, acked = 20, 4
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		// lossy: the damage must lose (or move aside) something.
		lossy bool
		// all: every held batch must be salvaged (the tables are intact).
		all bool
	}{
		{"truncated newest sst", func(t *testing.T, dir string) {
			p := newest(t, dir, "*.sst")
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"garbage in an sst", func(t *testing.T, dir string) {
			p := newest(t, dir, "*.sst")
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 512), fi.Size()/4); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"truncated MANIFEST", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "MANIFEST"), 12); err != nil {
				t.Fatal(err)
			}
		}, true, true},
		{"spool directory deleted", func(t *testing.T, dir string) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}, true, false},
		{"undamaged", func(*testing.T, string) {}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			last := filled(t, dir, n, acked)
			c.damage(t, dir)
			log, buf := logBuf()
			s, err := Open(Options{Dir: dir}, log)
			if err != nil {
				t.Fatalf("open after damage: %v", err)
			}
			defer s.Close()
			st := s.Stats()
			got := readable(t, s)
			if uint64(got)+st.Lost != n-acked {
				t.Fatalf("readable %d + lost %d != held %d; stats %+v; log:\n%s", got, st.Lost, n-acked, st, buf)
			}
			if got != st.Batches {
				t.Fatalf("Next hands out %d batches, stats say %d", got, st.Batches)
			}
			if c.all && got != n-acked {
				t.Fatalf("%d of %d held batches salvaged, want all; stats %+v; log:\n%s", got, n-acked, st, buf)
			}
			if c.lossy && st.Lost == 0 && st.Recovered == 0 {
				t.Fatalf("damage went unnoticed: %+v; log:\n%s", st, buf)
			}
			if !c.lossy && (st.Lost != 0 || st.Recovered != 0) {
				t.Fatalf("undamaged spool reported damage: %+v; log:\n%s", st, buf)
			}
			if st.Lost > 0 && !strings.Contains(buf.String(), "lost_batches=") {
				t.Fatalf("lost %d batches without a log line:\n%s", st.Lost, buf)
			}
			q, err := s.Append(payload)
			if err != nil {
				t.Fatal(err)
			}
			if q <= last {
				t.Fatalf("sequence regressed: next %d, last issued before the damage %d", q, last)
			}
		})
	}
}

// TestGarbageInMemLogAfterKill kills an appending process with SIGKILL,
// writes garbage into the middle of Badger's write-ahead log (.mem), and
// checks that the spool opens, counts what the log lost, and never issues
// a sequence number at or below one the child was handed.
func TestGarbageInMemLogAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := filepath.Join(t.TempDir(), "spool")
	argv := append(strings.Fields(os.Getenv("EDGEPULSE_TEST_EXEC")), os.Args[0], "-test.run=^$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	held := map[uint64]bool{}
	var maxSeq uint64
	sc := bufio.NewScanner(out)
	for n := 0; sc.Scan(); n++ {
		if n == 300 {
			cmd.Process.Signal(syscall.SIGKILL)
		}
		f := strings.Fields(sc.Text())
		q, _ := strconv.ParseUint(f[1], 10, 64)
		if f[0] == "s" {
			held[q], maxSeq = true, max(maxSeq, q)
		} else {
			delete(held, q)
		}
	}
	cmd.Wait()
	// Garbage over the middle of what the log holds.
	p := newest(t, dir, "*.mem")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	end := len(bytes.TrimRight(b, "\x00"))
	if end < 1024 {
		t.Fatalf("%s holds only %d bytes", p, end)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(bytes.Repeat([]byte{0x5A}, 64), int64(end/2))
	f.Close()

	log, buf := logBuf()
	s, err := Open(Options{Dir: dir}, log)
	if err != nil {
		t.Fatalf("open after garbage in the log: %v", err)
	}
	defer s.Close()
	st := s.Stats()
	got := readable(t, s)
	// The state file may be one Append ahead of what the child printed.
	if sum := uint64(got) + st.Lost; sum < uint64(len(held)) || sum > uint64(len(held))+1 {
		t.Fatalf("readable %d + lost %d, child held %d; stats %+v; log:\n%s", got, st.Lost, len(held), st, buf)
	}
	if st.Lost == 0 {
		t.Fatalf("garbage in the middle of the log lost nothing? stats %+v; log:\n%s", st, buf)
	}
	q, err := s.Append(payload)
	if err != nil {
		t.Fatal(err)
	}
	if q <= maxSeq {
		t.Fatalf("sequence regressed: next %d, the child was handed %d", q, maxSeq)
	}
}

// TestDiskReserveDropsOldestAndCounts sets a reserve above the free
// space. While the spool holds batches, each new one is stored and the
// oldest dropped (counted, logged once); once it holds nothing to drop,
// Append stores nothing, says why, counts it; and it works again once the
// reserve fits.
func TestDiskReserveDropsOldestAndCounts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, dir, 0)
	var held []uint64
	for range 3 {
		q, err := s.Append(payload)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, q)
	}
	free, err := s.DiskFree()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	log, buf := logBuf()
	s, err = Open(Options{Dir: dir, DiskReserve: free + 1<<30}, log)
	if err != nil {
		t.Fatal(err)
	}
	var stored []uint64
	for range 2 {
		q, err := s.Append(payload)
		if err != nil {
			t.Fatalf("Append at the reserve with batches to drop: %v", err)
		}
		stored = append(stored, q)
	}
	st := s.Stats()
	if st.DiskDropped != 2 || st.Batches != 3 || st.Bound != 0 {
		t.Fatalf("stats %+v, want 2 disk drops, 3 batches held, bound 0", st)
	}
	// The oldest two went; the third old one and the two new ones stay.
	var got []uint64
	for after := uint64(0); ; {
		q, _, ok, err := s.Next(after)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, q)
		after = q
	}
	if want := append([]uint64{held[2]}, stored...); !slices.Equal(got, want) {
		t.Fatalf("held %v after dropping the oldest, want %v", got, want)
	}
	if strings.Count(buf.String(), "dropped the oldest") != 1 {
		t.Fatalf("want one oldest-dropped log line:\n%s", buf)
	}
	// Nothing left to drop: refused.
	for _, q := range got {
		if err := s.Ack(q); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := s.Append(payload); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("Append on a full disk with nothing to drop: %v, want ErrDiskFull", err)
		}
	}
	if st := s.Stats(); st.DiskDropped != 5 || st.Batches != 0 {
		t.Fatalf("stats %+v, want 5 disk drops, no batch held", st)
	}
	if strings.Count(buf.String(), "disk full") != 1 {
		t.Fatalf("want one disk-full log line:\n%s", buf)
	}
	s.Close()
	s = open(t, dir, 0)
	defer s.Close()
	q, err := s.Append(payload)
	if err != nil || q != stored[1]+1 {
		t.Fatalf("after the disk has room: seq %d err %v, want %d (refused batches issue no number)", q, err, stored[1]+1)
	}
	if st := s.Stats(); st.Bound <= 0 || st.Bound > DefaultMaxBytes {
		t.Fatalf("bound %d, want (0, %d]", st.Bound, DefaultMaxBytes)
	}
}

// TestOpenCreatesParent: the data directory need not exist (Badger makes
// it; the state file beside the spool needs its parent too).
func TestOpenCreatesParent(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a", "b", "spool"), 0)
	s.Close()
}

// TestReclaimKeepsHeld: the full-disk reclaim (flush and flatten) keeps
// every held batch readable, in order, and the spool usable.
func TestReclaimKeepsHeld(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, dir, 0)
	defer s.Close()
	var seqs []uint64
	for range 30 {
		q, err := s.Append(payload)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, q)
	}
	for _, q := range seqs[:20] {
		s.Ack(q)
	}
	s.mu.Lock()
	ran := s.reclaimLocked()
	again := s.reclaimLocked() // rate-limited
	s.mu.Unlock()
	if !ran || again {
		t.Fatalf("reclaim ran %v, again %v; want true, false", ran, again)
	}
	if n := readable(t, s); n != 10 {
		t.Fatalf("%d batches readable after reclaim, want 10", n)
	}
	if q, err := s.Append(payload); err != nil || q != seqs[29]+1 {
		t.Fatalf("append after reclaim: %d, %v", q, err)
	}
}

// TestCheckTablesFindsFlippedByte: a byte flipped inside a block's data
// still decompresses (random batches are stored as Snappy literals), so
// only the block's checksum can tell; checkTables must, and name the
// table and block.
func TestCheckTablesFindsFlippedByte(t *testing.T) {
	dir, _ := filepath.Abs(filepath.Join(t.TempDir(), "spool"))
	s := open(t, dir, 0)
	var batches [][]byte
	for range 8 {
		b := make([]byte, 4096)
		if _, err := crand.Read(b); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(func(uint64) ([]byte, error) { return b, nil }); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	listed, err := checkManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkTables(dir, listed); err != nil {
		t.Fatalf("undamaged tables: %v", err)
	}
	// Find a run of a batch's bytes in a table and flip one of them.
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	flipped := ""
	for _, p := range ssts {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			if i := bytes.Index(data, b[2000:2032]); i >= 0 {
				data[i+16] ^= 0xFF
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				flipped = filepath.Base(p)
				break
			}
		}
		if flipped != "" {
			break
		}
	}
	if flipped == "" {
		t.Fatalf("no batch's bytes found verbatim in %d tables", len(ssts))
	}
	err = checkTables(dir, listed)
	if err == nil || !strings.Contains(err.Error(), flipped) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("checkTables after flipping a byte of %s: %v, want a checksum error naming the table", flipped, err)
	}
	t.Log(err)
}
