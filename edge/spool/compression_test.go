package spool

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestOpensSnappySpool checks that a spool written with Snappy tables (as
// every spool was before compression was turned off) opens as undamaged
// and hands out every held batch, also when its MANIFEST is cut short and
// the table checker must guess each table's compression.
func TestOpensSnappySpool(t *testing.T) {
	const n, acked = 20, 4
	for _, cut := range []bool{false, true} {
		t.Run("manifest cut="+strconv.FormatBool(cut), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			log, buf := logBuf()
			s, err := Open(Options{Dir: dir, snappy: true}, log)
			if err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("0123456789abcdef"), 128)
			for i := range n {
				q, err := s.Append(func(seq uint64) ([]byte, error) {
					return append([]byte(strconv.FormatUint(seq, 10)+":"), big...), nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if i < acked {
					if err := s.Ack(q); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if m, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(m) == 0 {
				t.Fatal("no tables written: the test would not read a Snappy table")
			}
			if cut {
				if err := os.Truncate(filepath.Join(dir, "MANIFEST"), 12); err != nil {
					t.Fatal(err)
				}
			}
			s, err = Open(Options{Dir: dir}, log)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			st := s.Stats()
			if got := readable(t, s); got != n-acked || st.Lost != 0 {
				t.Fatalf("readable %d lost %d, want %d and 0; stats %+v; log:\n%s", got, st.Lost, n-acked, st, buf)
			}
			if !cut && st.Recovered != 0 {
				t.Fatalf("an undamaged Snappy spool was recovered as damaged: %+v; log:\n%s", st, buf)
			}
		})
	}
}
