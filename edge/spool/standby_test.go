package spool

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSequencerThenAdopt: while the spool is closed a Sequencer numbers
// batches above every number the spool issued (its synced reservation),
// across a restart of the Sequencer too; once the spool opens it takes
// the batches under those numbers (Adopt), hands them out in order after
// its own, counts nothing lost, and numbers new batches above them.
func TestSequencerThenAdopt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := Open(Options{Dir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	var own []uint64
	for i := range 3 {
		seq, err := s.Append(func(seq uint64) ([]byte, error) { return fmt.Appendf(nil, "own %d", i), nil })
		if err != nil {
			t.Fatal(err)
		}
		own = append(own, seq)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The spool "cannot open": a Sequencer numbers two batches, is
	// closed (an agent restart), and a second one numbers two more.
	held := map[uint64][]byte{}
	var order []uint64
	for range 2 {
		q, err := OpenSequencer(dir)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			seq, err := q.Next()
			if err != nil {
				t.Fatal(err)
			}
			if len(order) > 0 && seq <= order[len(order)-1] {
				t.Fatalf("sequencer issued %d after %d", seq, order[len(order)-1])
			}
			if seq <= own[len(own)-1] {
				t.Fatalf("sequencer issued %d, not above the spool's last %d", seq, own[len(own)-1])
			}
			held[seq] = fmt.Appendf(nil, "mem %d", seq)
			order = append(order, seq)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}

	s, err = Open(Options{Dir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	if s.LastSeq() < order[len(order)-1] {
		t.Fatalf("spool reopened at seq %d, below the sequencer's %d", s.LastSeq(), order[len(order)-1])
	}
	for _, seq := range order {
		if err := s.Adopt(seq, held[seq]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Adopt(order[0], held[order[0]]); err != nil { // twice: kept once
		t.Fatal(err)
	}
	want := append(append([]uint64{}, own...), order...)
	var after uint64
	for i, w := range want {
		seq, data, ok, err := s.Next(after)
		if err != nil || !ok {
			t.Fatalf("Next(%d): ok=%v err=%v, want seq %d", after, ok, err, w)
		}
		if seq != w {
			t.Fatalf("batch %d: seq %d, want %d", i, seq, w)
		}
		if i >= len(own) && string(data) != string(held[seq]) {
			t.Fatalf("adopted batch %d holds %q", seq, data)
		}
		after = seq
	}
	if st := s.Stats(); st.Batches != len(want) || st.Lost != 0 || st.Recovered != 0 {
		t.Fatalf("stats %+v, want %d batches, none lost", st, len(want))
	}
	next, err := s.Append(func(uint64) ([]byte, error) { return []byte("new"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if next <= order[len(order)-1] {
		t.Fatalf("Append after adopting issued %d, not above %d", next, order[len(order)-1])
	}
	// A restart keeps all of it, nothing counted lost.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Batches != len(want)+1 || st.Lost != 0 {
		t.Fatalf("after a restart: %+v, want %d batches, none lost", st, len(want)+1)
	}
}

// TestIsDiskFull: the errors a full disk gives on the way to opening.
func TestIsDiskFull(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{ErrDiskFull, true},
		{fmt.Errorf("spool: allocate state file x: %w", syscall.ENOSPC), true},
		{fmt.Errorf("spool: open: %w", syscall.EIO), false},
		{nil, false},
	} {
		if got := IsDiskFull(c.err); got != c.want {
			t.Errorf("IsDiskFull(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
