package spool

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
		if len(fs) >= 6 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			in = filepath.Dir(fs[5]) == dir && strings.HasSuffix(fs[5], ".sst")
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

// TestReleasePages writes batches until Badger has flushed tables (written
// through their mapping, so resident), pages them out, and checks that
// they left the RSS and that every batch still reads back intact.
func TestReleasePages(t *testing.T) {
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
	n, err := s.ReleasePages()
	if err != nil {
		t.Fatal(err)
	}
	after, _ := tableRSS(t, dir)
	t.Logf("%d table mappings: %d kB resident before, %d kB after; %d bytes advised", maps, before, after, n)
	if n == 0 || after >= before {
		t.Fatalf("tables still resident: %d kB before, %d kB after (%d bytes advised)", before, after, n)
	}
	for after := uint64(0); ; {
		q, b, ok, err := s.Next(after)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if !bytes.Equal(b, want[q]) {
			t.Fatalf("batch %d reads back different after paging out", q)
		}
		delete(want, q)
		after = q
	}
	if len(want) != 0 {
		t.Fatalf("%d batches missing after paging out", len(want))
	}
}
