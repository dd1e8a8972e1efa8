package spool

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// crashChildEnv names the spool directory when the test binary runs as the
// child of TestKillDuringAppend.
const crashChildEnv = "EDGEPULSE_SPOOL_CRASH_CHILD"

// TestMain lets the test binary act as the appending child process.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashChild appends batches forever, acknowledging every third, and
// reports each Append and Ack on stdout only after it returned.
func crashChild(dir string) int {
	s, err := Open(Options{Dir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		q, err := s.Append(payload)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 4
		}
		fmt.Fprintf(w, "s %d\n", q)
		if i%3 == 2 {
			if err := s.Ack(q - 1); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 5
			}
			fmt.Fprintf(w, "a %d\n", q-1)
		}
		w.Flush()
	}
}

// TestKillDuringAppend kills a process appending to the spool with SIGKILL
// at random moments, reopens the spool each time, and checks that every
// batch whose Append returned is still there (unless its Ack returned)
// with its content, that replay is in order, and that sequence numbers are
// never reissued. SIGKILL leaves the page cache intact, so this tests
// Badger's crash recovery, not the fsync (see docs/spool.md).
func TestKillDuringAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := filepath.Join(t.TempDir(), "spool")
	appended := map[uint64]bool{} // Append returned, Ack not reported
	var lastSeq uint64
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 12 {
		// Under qemu-user (cross/test.sh) the child needs the emulator too.
		argv := append(strings.Fields(os.Getenv("EDGEPULSE_TEST_EXEC")), os.Args[0], "-test.run=^$")
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it report a random number of events, then kill it mid-stride
		// and read what it reported before it died.
		sc := bufio.NewScanner(out)
		first, kill := true, 1+rng.IntN(40)
		for n := 0; sc.Scan(); n++ {
			if n == kill {
				cmd.Process.Signal(syscall.SIGKILL)
			}
			f := strings.Fields(sc.Text())
			q, _ := strconv.ParseUint(f[1], 10, 64)
			switch f[0] {
			case "s":
				if first && q <= lastSeq {
					t.Fatalf("round %d: first sequence %d reissues one at or below %d", round, q, lastSeq)
				}
				first = false
				appended[q] = true
			case "a":
				delete(appended, q)
			}
		}
		cmd.Wait()
		if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() {
			t.Fatalf("round %d: child exited by itself (%v): %s", round, cmd.ProcessState, stderr.String())
		}

		s, err := Open(Options{Dir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if st := s.Stats(); st.Recovered != 0 {
			t.Fatalf("round %d: spool was moved aside after SIGKILL: %+v", round, st)
		}
		held := map[uint64]bool{}
		var prev uint64
		for after := uint64(0); ; {
			q, data, ok, err := s.Next(after)
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if !ok {
				break
			}
			if q <= prev {
				t.Fatalf("round %d: replay out of order: %d after %d", round, q, prev)
			}
			if want, _ := payload(q); !bytes.Equal(data, want) {
				t.Fatalf("round %d: seq %d holds %q, want %q", round, q, data, want)
			}
			held[q], prev, after = true, q, q
		}
		for q := range appended {
			if !held[q] {
				t.Fatalf("round %d: batch %d was appended (Append returned) but is gone after SIGKILL; held %v, appended %v, last %d", round, q, held, appended, s.LastSeq())
			}
		}
		if s.LastSeq() < prev {
			t.Fatalf("round %d: last sequence %d below held batch %d", round, s.LastSeq(), prev)
		}
		lastSeq = s.LastSeq()
		s.Close()
	}
	if len(appended) == 0 {
		t.Fatal("no batch outstanding at the end: the test exercised nothing")
	}
}
