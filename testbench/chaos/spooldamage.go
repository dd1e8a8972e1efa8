package chaos

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// damages are the spool damages of issue 18, each done to a stopped
// agent's spool (dir) while the uplink is cut and the spool holds batches.
var damages = []struct {
	name string
	kill bool // stop the agent with SIGKILL (else SIGTERM, which flushes tables)
	do   func(dir string) error
}{
	{"truncated_sst", false, func(dir string) error {
		p, err := newestFile(dir, "*.sst")
		if err != nil {
			return err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		return os.Truncate(p, fi.Size()/2)
	}},
	{"garbage_sst", false, func(dir string) error {
		p, err := newestFile(dir, "*.sst")
		if err != nil {
			return err
		}
		return garbageAt(p, func(size int64) int64 { return size / 3 })
	}},
	{"garbage_mem_after_kill9", true, func(dir string) error {
		p, err := newestFile(dir, "*.mem")
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		end := int64(len(bytes.TrimRight(b, "\x00")))
		return garbageAt(p, func(int64) int64 { return end / 2 })
	}},
	{"truncated_manifest", false, func(dir string) error {
		return os.Truncate(filepath.Join(dir, "MANIFEST"), 12)
	}},
}

func newestFile(dir, pattern string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) == 0 {
		return "", fmt.Errorf("no %s in %s", pattern, dir)
	}
	slices.Sort(m)
	return m[len(m)-1], nil
}

func garbageAt(path string, off func(size int64) int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = f.WriteAt(bytes.Repeat([]byte{0xA5}, 256), off(fi.Size()))
	return err
}

// stateLastSeq reads the last sequence number from the spool's state file
// (edge/spool/state.go: two slots of magic, generation, last seq, …).
func stateLastSeq(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var gen, seq uint64
	for off := 0; off+44 <= len(b) && off < 128; off += 64 {
		s := b[off:]
		if string(s[:4]) != "EPSQ" {
			continue
		}
		if g := binary.BigEndian.Uint64(s[4:]); g >= gen {
			gen, seq = g, binary.BigEndian.Uint64(s[12:])
		}
	}
	if gen == 0 {
		return 0, fmt.Errorf("%s: no valid slot", path)
	}
	return seq, nil
}

// spoolDamage: windows flow, the uplink is cut until the spool holds 20
// batches in tables, the agent is stopped (SIGTERM, or SIGKILL for the
// write-ahead log case), its spool damaged, and the agent started again:
// it must stay up (no crash loop), count and log every batch it lost,
// and issue sequence numbers above the last one issued before.
func spoolDamage(ctx context.Context, o AgentOptions, name string) (string, error) {
	i := slices.IndexFunc(damages, func(d struct {
		name string
		kill bool
		do   func(dir string) error
	}) bool {
		return d.name == name
	})
	if i < 0 {
		return "", fmt.Errorf("no spool damage %q", name)
	}
	dmg := damages[i]
	dir := filepath.Join(o.Dir, "spool-"+name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	r, err := startAgentRun(ctx, dir)
	if err != nil {
		return "", err
	}
	defer r.stop()
	fail := func(err error) (string, error) { return "", fmt.Errorf("%w\n%s", err, r.st.Logs()) }
	spoolDir := filepath.Join(dir, "agent", "spool")
	if _, err := r.waitMetrics(ctx, 60*time.Second, "3 windows", func(m map[string]float64) bool { return m["windows_total"] >= 3 }); err != nil {
		return fail(err)
	}
	r.cutUplink()
	want := "*.sst"
	if dmg.kill {
		want = "*.mem"
	}
	if _, err := r.waitMetrics(ctx, 3*time.Minute, "20 spooled batches", func(m map[string]float64) bool {
		ok, _ := filepath.Glob(filepath.Join(spoolDir, want))
		return m["spool_batches"] >= 20 && len(ok) > 0
	}); err != nil {
		return fail(err)
	}
	stopped := time.Now()
	if dmg.kill {
		r.st.Agent.Kill()
	} else {
		r.st.Agent.Stop()
	}
	seqBefore, err := stateLastSeq(spoolDir + ".state")
	if err != nil {
		return fail(err)
	}
	if err := dmg.do(spoolDir); err != nil {
		return fail(fmt.Errorf("damage: %w", err))
	}
	logBefore, _ := os.ReadFile(r.st.Agent.Log)
	if err := r.restartAgent(); err != nil {
		return fail(err)
	}
	m, err := r.waitMetrics(ctx, 60*time.Second, "a window after the restart", func(m map[string]float64) bool { return m["windows_total"] >= 1 })
	if err != nil {
		return fail(err)
	}
	up := time.Now()
	if err := sleep(ctx, 10*time.Second); err != nil {
		return "", err
	}
	crashLoop := 0
	if r.st.Agent.Exited() {
		crashLoop = 1
		return fail(fmt.Errorf("the agent died after the restart on a damaged spool"))
	}
	seqAfter := uint64(m["spool_last_seq"])
	lostCounted := m["spool_lost_total"]
	recovered := m["spool_recovered_total"]
	logAll, _ := os.ReadFile(r.st.Agent.Log)
	logNew := string(logAll[len(logBefore):])
	logged := strings.Contains(logNew, "lost_batches=") || strings.Contains(logNew, "spool damaged")
	r.restoreUplink(ctx)
	stored, err := r.drain(ctx)
	if err != nil {
		return fail(err)
	}
	gap := [][2]float64{{unix(stopped) - 2, unix(up) + 4}}
	expected, distinct, dups, notCollected, missing := windowAccount(stored, gap)
	regressed := 0
	if seqAfter <= seqBefore {
		regressed = 1
	}
	return fmt.Sprintf("RESULT scenario=spool_%s windows_expected=%d windows_stored=%d missing=%d lost_counted=%.0f uncounted=%d duplicates=%d not_collected_while_down=%d recovered=%.0f logged=%v restarts=1 crash_loop=%d seq_before=%d seq_after=%d seq_regressed=%d",
		name, expected, distinct, missing, lostCounted, max(0, missing-int(lostCounted)), dups, notCollected, recovered, logged,
		crashLoop, seqBefore, seqAfter, regressed), nil
}
