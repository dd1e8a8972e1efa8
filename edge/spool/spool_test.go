package spool

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func open(t testing.TB, dir string, max int64) *Spool {
	t.Helper()
	s, err := Open(Options{Dir: dir, MaxBytes: max}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func payload(seq uint64) ([]byte, error) { return []byte(fmt.Sprintf("batch-%d", seq)), nil }

func TestAppendNextAckReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := open(t, dir, 0)
	var seqs []uint64
	for range 5 {
		q, err := s.Append(payload)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, q)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence not consecutive: %v", seqs)
		}
	}
	if err := s.Ack(seqs[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopen: the four un-acked batches replay in order, and new sequence
	// numbers continue above the old ones.
	s = open(t, dir, 0)
	defer s.Close()
	var got []uint64
	for after := uint64(0); ; {
		q, data, ok, err := s.Next(after)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		want, _ := payload(q)
		if !bytes.Equal(data, want) {
			t.Fatalf("seq %d data %q, want %q", q, data, want)
		}
		got = append(got, q)
		after = q
	}
	if fmt.Sprint(got) != fmt.Sprint(seqs[1:]) {
		t.Fatalf("replayed %v, want %v", got, seqs[1:])
	}
	q, err := s.Append(payload)
	if err != nil {
		t.Fatal(err)
	}
	if q != seqs[4]+1 {
		t.Fatalf("after reopen seq = %d, want %d", q, seqs[4]+1)
	}
	if st := s.Stats(); st.Batches != 5 {
		t.Fatalf("stats %+v, want 5 batches", st)
	}
}

func TestBoundDropsOldestAndCounts(t *testing.T) {
	s := open(t, t.TempDir(), 100)
	defer s.Close()
	big := func(uint64) ([]byte, error) { return bytes.Repeat([]byte{'x'}, 40), nil }
	var last uint64
	for range 5 {
		q, err := s.Append(big)
		if err != nil {
			t.Fatal(err)
		}
		last = q
	}
	st := s.Stats()
	if st.Batches != 2 || st.Dropped != 3 || st.Bytes != 80 {
		t.Fatalf("stats %+v, want 2 batches, 3 dropped, 80 bytes", st)
	}
	q, _, ok, _ := s.Next(0)
	if !ok || q != last-1 {
		t.Fatalf("oldest held = %d, want %d", q, last-1)
	}
}

func TestCorruptSpoolMovedAside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "spool")
	s := open(t, dir, 0)
	first, _ := s.Append(payload)
	s.Close()
	// Destroy the manifest so Badger cannot open the directory.
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("garbage, not a manifest"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 0)
	defer s.Close()
	// The batch was in a table (Close flushed it): salvaged.
	if st := s.Stats(); st.Recovered != 1 || st.Batches != 1 || st.Lost != 0 {
		t.Fatalf("stats %+v, want recovered=1 and the batch salvaged", st)
	}
	aside, _ := filepath.Glob(dir + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("moved-aside dirs: %v", aside)
	}
	q, _ := s.Append(payload)
	if q <= first {
		t.Fatalf("fresh spool issued seq %d, not above the lost spool's %d", q, first)
	}
}

// syncPolicies are the fsync policies the benchmarks compare: the default
// (Append syncs, Ack does not), every write synced (Badger SyncWrites, the
// policy before), and none (Options.NoSync).
var syncPolicies = []struct {
	name string
	opts Options
}{
	{"append", Options{}},
	{"all", Options{syncAll: true}},
	{"none", Options{NoSync: true}},
}

// BenchmarkAppend measures the steady state: one batch appended and, once
// acknowledged upstream, removed.
func BenchmarkAppend(b *testing.B) {
	for _, p := range syncPolicies {
		b.Run("sync="+p.name, func(b *testing.B) {
			o := p.opts
			o.Dir = b.TempDir()
			s, err := Open(o, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := bytes.Repeat([]byte{'x'}, 2048)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				q, err := s.Append(func(uint64) ([]byte, error) { return data, nil })
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Ack(q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
	}
}

// BenchmarkAck measures removing acknowledged batches, as during a drain
// after an outage (the batches were appended before the timer started).
func BenchmarkAck(b *testing.B) {
	for _, p := range syncPolicies {
		b.Run("sync="+p.name, func(b *testing.B) {
			o := p.opts
			o.Dir = b.TempDir()
			s, err := Open(o, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := bytes.Repeat([]byte{'x'}, 2048)
			b.ReportAllocs()
			var seqs []uint64
			for b.Loop() {
				if len(seqs) == 0 {
					b.StopTimer()
					for range 200 {
						q, err := s.Append(func(uint64) ([]byte, error) { return data, nil })
						if err != nil {
							b.Fatal(err)
						}
						seqs = append(seqs, q)
					}
					b.StartTimer()
				}
				if err := s.Ack(seqs[0]); err != nil {
					b.Fatal(err)
				}
				seqs = seqs[1:]
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
	}
}
