package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/internal/tmpfs"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// memSeqs are the sequence numbers the outbox holds in memory.
func memSeqs(a *Agent) []uint64 {
	a.spool.mu.Lock()
	defer a.spool.mu.Unlock()
	var s []uint64
	for _, b := range a.spool.mem {
		s = append(s, b.seq)
	}
	return s
}

// TestStartOnFullDisk: an agent started on a data directory whose file
// system has 0 bytes free (another program filled it) runs: it collects,
// holds windows in its memory queue (dropping the oldest, counted, when
// the uplink is down longer than the queue holds), publishes them while
// the uplink is up, and once space returns opens the spool, moves the
// windows still in memory into it and publishes those and the batches
// the spool held from before. No sequence number is reused or goes back.
func TestStartOnFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about half a minute")
	}
	fs := tmpfs.Mount(t, 24<<20)
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	storeDir := t.TempDir() // the server's store is not on the full disk
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := fixtureConfig(t, url)
	cfg.DataDir = filepath.Join(fs, "agent")

	run := func(a *Agent) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		return func() { cancel(); <-done }
	}
	waitFor := func(a *Agent, what string, limit time.Duration, cond func(Stats) bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond(a.Stats()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stats %+v", what, a.Stats())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// A first run with the uplink down leaves batches in the spool.
	a, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(a)
	waitFor(a, "3 spooled windows", 30*time.Second, func(s Stats) bool { return s.Spool.Batches >= 3 })
	stop()
	held := a.Stats().Spool.Batches
	lastBefore := a.spool.LastSeq()
	a.Close()

	// Another program fills the disk; the agent starts on it.
	filler := filepath.Join(fs, "filler")
	tmpfs.Fill(t, filler)
	a, err = New(cfg, log)
	if err != nil {
		t.Fatalf("start on a full disk: %v", err)
	}
	defer a.Close()
	if st := a.Stats().Outbox; st.SpoolOpen || st.OpenFailures != 1 {
		t.Fatalf("on a full disk: %+v, want the spool closed after 1 failed open", st)
	}
	a.spool.memCap = 3 // a queue that fills in seconds
	a.spoolRetry = 300 * time.Millisecond
	stop = run(a)
	defer func() { stop() }()
	// The uplink is down: the memory queue fills and drops its oldest.
	waitFor(a, "2 windows dropped by the full memory queue", 30*time.Second, func(s Stats) bool { return s.Outbox.MemDropped >= 2 })
	if st := a.Stats(); st.Outbox.MemBatches != 3 || st.Outbox.OpenFailures < 2 || st.Spool.Batches != 0 {
		t.Fatalf("memory queue full on a full disk: %+v, want 3 held, retries failing", st)
	}
	if got := strings.Count(logs.String(), "memory queue full"); got != 1 {
		t.Errorf("%d 'memory queue full' log lines, want 1", got)
	}
	if h := a.od.hist.Load(); h != nil {
		t.Errorf("raw history on while the spool is closed")
	}

	// The uplink comes back: the windows in memory are held back, the
	// spool's older batches must go first (outbox.go, holdBack); the
	// queue goes on dropping its oldest.
	ns := startServer(t, port, storeDir)
	dropsAtUplink := a.Stats().Outbox.MemDropped
	waitFor(a, "2 more windows dropped with the uplink up", 30*time.Second, func(s Stats) bool {
		return s.Outbox.MemDropped >= dropsAtUplink+2
	})
	if st := a.Stats(); st.Forward.Published != 0 {
		t.Fatalf("%d windows published from memory before the spool's %d older batches: %+v", st.Forward.Published, held, st)
	}
	if !strings.Contains(logs.String(), "held back until it opens") {
		t.Errorf("the start on a full disk did not say the windows in memory are held back")
	}
	// The uplink goes again; two windows wait in memory when space returns.
	ns.Shutdown()
	ns.WaitForShutdown()
	dropped := a.Stats().Outbox.MemDropped
	a.spool.mu.Lock()
	a.spool.memCap = memQueueWindows // room for every window until the spool opens, however slow
	a.spool.mu.Unlock()
	waitFor(a, "2 windows in memory", 30*time.Second, func(s Stats) bool { return s.Outbox.MemBatches >= 2 })
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	inMemory := memSeqs(a)
	waitFor(a, "the spool to open", 30*time.Second, func(s Stats) bool { return s.Outbox.SpoolOpen })
	if st := a.Stats(); st.Outbox.MemDropped != dropped {
		t.Fatalf("memory queue dropped %d windows after the uplink returned, want none (%+v)", st.Outbox.MemDropped-dropped, st)
	}
	sp := a.spool.spool()
	for _, seq := range inMemory {
		if _, _, ok, err := sp.Next(seq - 1); err != nil || !ok {
			t.Fatalf("window seq %d held in memory is not in the spool that opened (err %v)", seq, err)
		}
	}
	// The raw history starts right after the spool opens, in the same
	// retry loop (SpoolOpen turns true a moment before).
	waitUntil(t, "raw history on after the spool opened", 10*time.Second, func() error {
		if a.od.hist.Load() == nil {
			return errors.New("raw history still off")
		}
		return nil
	})

	// The uplink returns: everything is published — the batches of the
	// first run, the windows held in memory, the new ones.
	ns = startServer(t, port, storeDir)
	defer ns.Shutdown()
	waitFor(a, "the spool to drain", 40*time.Second, func(s Stats) bool {
		return s.Spool.Batches == 0 && s.Outbox.MemBatches == 0
	})
	stop()
	stop = func() {}

	batches := streamBatches(t, ns.ClientURL())
	seqs := map[uint64]bool{}
	starts := map[int64]uint64{}
	for _, b := range batches {
		if seqs[b.Seq] {
			t.Fatalf("seq %d stored twice", b.Seq)
		}
		seqs[b.Seq] = true
		if s, ok := starts[b.Start]; ok {
			t.Fatalf("window %d stored twice (seqs %d and %d)", b.Start, s, b.Seq)
		}
		starts[b.Start] = b.Seq
	}
	for _, seq := range inMemory {
		if !seqs[seq] {
			t.Errorf("window seq %d, held in memory when the spool opened, never reached the stream", seq)
		}
	}
	// The stream holds them in sequence order: the spool's older batches
	// first, then the windows held in memory, then the new ones.
	for i := 1; i < len(batches); i++ {
		if batches[i].Seq <= batches[i-1].Seq {
			t.Fatalf("stream order: seq %d stored after seq %d", batches[i].Seq, batches[i-1].Seq)
		}
	}
	// Sequence numbers follow the windows' order: none went back.
	slices.SortFunc(batches, func(x, y *codec.Batch) int { return int(x.Start - y.Start) })
	for i := 1; i < len(batches); i++ {
		if batches[i].Seq <= batches[i-1].Seq {
			t.Fatalf("seq went back: window %d has seq %d after window %d seq %d", batches[i].Start, batches[i].Seq, batches[i-1].Start, batches[i-1].Seq)
		}
	}
	// The first run's spooled batches are there, and every later window
	// is numbered above them.
	old := 0
	for _, b := range batches {
		if b.Seq <= lastBefore {
			old++
		}
	}
	if old < held {
		t.Errorf("%d of the %d batches the spool held from before reached the stream", old, held)
	}
	st := a.Stats()
	// Every window closed is in the stream or counted as dropped.
	if got, want := uint64(len(batches)-old)+st.Outbox.MemDropped, st.Windows; got != want {
		t.Errorf("%d windows stored + %d dropped (counted), want the %d the agent closed since the restart", len(batches)-old, st.Outbox.MemDropped, want)
	}
	t.Logf("held from before %d (%d stored), windows %d, stored %d, memory drops %d, failed opens %d, moved from memory %v",
		held, old, st.Windows, len(batches), st.Outbox.MemDropped, st.Outbox.OpenFailures, inMemory)
}

// testWriter sends log lines to t.Log, for a failing run's story.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestFirstStartOnFullDisk: a first start (no data directory, no state
// file, no Nats-Msg-Id key) on a file system with 0 bytes free runs too,
// numbering from the clock; once space returns the spool opens with the
// windows held in memory, numbered above them.
func TestFirstStartOnFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	fs := tmpfs.Mount(t, 8<<20)
	filler := filepath.Join(fs, "filler")
	tmpfs.Fill(t, filler)
	var logs syncBuffer
	cfg := fixtureConfig(t, fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))) // no server: the uplink is down
	cfg.DataDir = filepath.Join(fs, "agent")
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testWriter{t}), nil)))
	if err != nil {
		t.Fatalf("first start on a full disk: %v", err)
	}
	defer a.Close()
	a.spoolRetry = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for a.Stats().Outbox.MemBatches < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no windows in memory: %+v", a.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	inMemory := memSeqs(a)
	// Space returns, but less than the spool's reserve (8 MiB): opened,
	// the spool would refuse the windows in memory, so it stays closed.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	fails := a.Stats().Outbox.OpenFailures
	for a.Stats().Outbox.OpenFailures < fails+3 {
		if time.Now().After(deadline) {
			t.Fatalf("no retries: %+v", a.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := a.Stats(); st.Outbox.SpoolOpen || st.Spool.DiskDropped != 0 {
		t.Fatalf("with less free than the reserve: %+v, want the spool closed, nothing refused", st)
	}
	if !strings.Contains(logs.String(), "spool stays closed") {
		t.Errorf("no 'spool stays closed' in the log")
	}
	inMemory = memSeqs(a)
	// The file system grows: the spool opens.
	if err := syscall.Mount("tmpfs", fs, "tmpfs", syscall.MS_REMOUNT, "size=24m"); err != nil {
		t.Fatalf("growing the tmpfs: %v", err)
	}
	for !a.Stats().Outbox.SpoolOpen {
		if time.Now().After(deadline) {
			t.Fatalf("the spool did not open after space returned: %+v\n%s", a.Stats(), logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	sp := a.spool.spool()
	for _, seq := range inMemory {
		if _, _, ok, err := sp.Next(seq - 1); err != nil || !ok {
			t.Fatalf("window seq %d held in memory is not in the spool that opened (err %v)", seq, err)
		}
	}
	for a.Stats().Windows < uint64(len(inMemory))+3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if last := sp.LastSeq(); last <= inMemory[len(inMemory)-1] {
		t.Fatalf("spool's last seq %d not above the %d issued from memory", last, inMemory[len(inMemory)-1])
	}
	if st := a.Stats(); st.Spool.Lost != 0 || st.Spool.Recovered != 0 || st.Outbox.MemDropped != 0 {
		t.Fatalf("after the spool opened: %+v, want nothing lost, moved aside or dropped", st)
	}
}
