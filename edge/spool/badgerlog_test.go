package spool

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestBadgerLogLimited: a Badger error repeated every second (its
// flusher on a full disk) reaches the log once a minute, with the number
// held back; every line is counted; another format is not held back.
func TestBadgerLogLimited(t *testing.T) {
	lim := &badgerLimit{last: map[string]time.Time{}, held: map[string]uint64{}}
	t0 := time.Unix(1_800_000_000, 0)
	const f = "error flushing memtable to disk: %v, retrying"
	passed := 0
	var heldAtPass []uint64
	for i := range 125 { // 125 s of one line a second
		if ok, n := lim.pass(f, t0.Add(time.Duration(i)*time.Second)); ok {
			passed++
			heldAtPass = append(heldAtPass, n)
		}
	}
	if passed != 3 || heldAtPass[0] != 0 || heldAtPass[1] != 59 || heldAtPass[2] != 59 {
		t.Fatalf("%d lines passed (held before each: %v), want 3 (0, 59, 59)", passed, heldAtPass)
	}
	if ok, _ := lim.pass("while deleting file: %s, err: %v", t0.Add(10*time.Second)); !ok {
		t.Fatalf("a different format was held back")
	}
	if lim.stats.Lines != 126 || lim.stats.Suppressed != 122 {
		t.Fatalf("stats %+v, want 126 lines, 122 held back", lim.stats)
	}

	// Through the logger Badger is given.
	var buf bytes.Buffer
	l := newLimitedLogger(Options{Dir: t.TempDir()}, badgerLogger{slog.New(slog.NewTextHandler(&buf, nil))})
	for range 5 {
		l.Errorf(f, "no space left on device")
	}
	if n := strings.Count(buf.String(), "error flushing memtable"); n != 1 {
		t.Fatalf("%d lines logged of 5 within a second, want 1:\n%s", n, buf.String())
	}
}
