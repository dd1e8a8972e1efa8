package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// diskFilledByOther puts the agent's data directory on a tmpfs with room
// to spare and lets another program (dd) fill it to the last block while
// the agent runs with its uplink cut: the agent's free-space checks did
// not see it coming, so Badger's own writes meet a full disk (the spool's
// reclaim flush, a new memtable, the memtable's log). Upstream Badger
// writes those through mappings of sparse files, where a full disk is a
// SIGBUS; the patched one allocates the blocks first (edge/third_party/badger,
// y.Preallocate). The disk stays full for o.Full, across a kill -9 and a
// restart, then the filler is removed, the uplink restored and the spool
// drained. Every window from the first to the last stored must be stored,
// or counted as dropped for the full disk (by the spool, or by the memory
// queue an agent started on the full disk holds windows in), or fall in
// the seconds the agent was not running. restart_on_full_disk says what
// the restarted agent did: up (it ran on the full disk), exited,
// no_metrics, died_later.
func diskFilledByOther(ctx context.Context, o AgentOptions) (string, error) {
	dir := filepath.Join(o.Dir, "disk-filled")
	data := filepath.Join(dir, "agent")
	r, stop, err := startAgentOnTmpfs(ctx, dir, o.FillerDiskSize)
	if err != nil {
		return "", err
	}
	defer stop()
	fail := func(err error) (string, error) { return "", fmt.Errorf("%w\n%s", err, r.st.Logs()) }
	// Acknowledged batches first (deletes the reclaim will want to
	// flush), then the uplink cut so that windows spool.
	if _, err := r.waitMetrics(ctx, 60*time.Second, "10 windows", func(m map[string]float64) bool { return m["windows_total"] >= 10 }); err != nil {
		return fail(err)
	}
	r.cutUplink()
	if _, err := r.waitMetrics(ctx, 30*time.Second, "3 spooled windows", func(m map[string]float64) bool { return m["spool_batches"] >= 3 }); err != nil {
		return fail(err)
	}
	filler := filepath.Join(data, "filler")
	out, _ := exec.CommandContext(ctx, "dd", "if=/dev/zero", "of="+filler, "bs=64k").CombinedOutput()
	if !strings.Contains(string(out), "No space left") {
		return fail(fmt.Errorf("dd did not fill the disk: %s", out))
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(data, &st); err != nil {
		return "", err
	}
	freeAfterFill := int64(st.Bavail) * int64(st.Bsize)
	fmt.Fprintf(os.Stderr, "disk filled by dd: %d bytes free; full for %v, with a kill -9 and restart half way\n", freeAfterFill, o.Full)
	if err := sleep(ctx, o.Full/2); err != nil {
		return "", err
	}
	alive := 0
	if !r.st.Agent.Exited() {
		alive = 1
	}
	before, err := r.agentMetrics(ctx)
	if err != nil && alive == 1 {
		return fail(err)
	}
	// A restart on the disk another program filled.
	killed := time.Now()
	r.st.Agent.Kill()
	if err := r.restartAgent(); err != nil {
		return fail(err)
	}
	restartOnFull := "up"
	upAt := time.Now()
	if _, err := r.waitMetrics(ctx, 20*time.Second, "the agent restarted on the full disk", func(m map[string]float64) bool { return m["cycles_total"] >= 1 }); err != nil {
		restartOnFull = "exited"
		if !r.st.Agent.Exited() {
			restartOnFull = "no_metrics"
		}
	}
	upAt = time.Now()
	if err := sleep(ctx, o.Full/2); err != nil {
		return "", err
	}
	if restartOnFull == "up" && r.st.Agent.Exited() {
		restartOnFull = "died_later"
	}
	full, _ := r.agentMetrics(ctx)
	if err := os.Remove(filler); err != nil {
		return "", err
	}
	restarts := 1
	if r.st.Agent.Exited() {
		// What a service manager would do once space returned.
		if err := r.restartAgent(); err != nil {
			return fail(err)
		}
		restarts++
	}
	if _, err := r.waitMetrics(ctx, 60*time.Second, "the agent after space returned", func(m map[string]float64) bool { return m["cycles_total"] >= 1 }); err != nil {
		return fail(err)
	}
	if restartOnFull != "up" {
		upAt = time.Now()
	}
	if err := r.restoreUplink(ctx); err != nil {
		return fail(err)
	}
	after, stored, err := r.settleAfterFull(ctx)
	if err != nil {
		return fail(err)
	}
	// Counters are per process: the process that ran on the full disk is
	// the one measured after unless it exited (a second restart).
	drops := func(m map[string]float64) float64 {
		return m["spool_disk_dropped_total"] + m["memory_queue_dropped_total"]
	}
	dropped := drops(before) + drops(after)
	memDropped := after["memory_queue_dropped_total"]
	openFailures := after["spool_open_failures_total"]
	if restarts > 1 {
		dropped += drops(full)
		memDropped += full["memory_queue_dropped_total"]
		openFailures += full["spool_open_failures_total"]
	}
	// Excused: from the kill until the agent ran again (on the full disk,
	// or after space returned if it could not start there).
	gap := [][2]float64{{unix(killed) - 2, unix(upAt) + 4}}
	expected, distinct, dups, notCollected, missing := windowAccount(stored, gap)
	lost := max(0, missing-int(dropped))
	// The agent's log holds every process's output (appended).
	crashes := 0
	if b, _ := os.ReadFile(r.st.Agent.Log); strings.Contains(string(b), "SIGBUS") || strings.Contains(string(b), "fatal error") || strings.Contains(string(b), "panic:") {
		crashes = 1
	}
	if alive == 0 {
		crashes = 1
	}
	return fmt.Sprintf("RESULT scenario=disk_filled_by_other tmpfs_mib=%d free_after_fill=%d full_s=%.0f windows_expected=%d windows_stored=%d lost=%d duplicates=%d dropped_counted=%.0f missing_outside_restart=%d not_collected_during_restart=%d alive_while_full=%d restart_on_full_disk=%s memory_dropped=%.0f spool_open_failures=%.0f restarts=%d crashes=%d",
		o.FillerDiskSize>>20, freeAfterFill, o.Full.Seconds(), expected, distinct, lost, dups, dropped, missing, notCollected, alive, restartOnFull, memDropped, openFailures, restarts, crashes), nil
}
