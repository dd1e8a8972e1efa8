package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// AgentOptions configure the agent scenarios (disk full, damaged spools).
type AgentOptions struct {
	Dir string // working directory (logs, data)
	// DiskSize is the tmpfs the disk-full scenario puts the agent's data
	// directory on; default 12 MiB: the 8 MiB default reserve, the 2 MiB
	// write-ahead log Badger allocates whole, and room for about 2
	// minutes of 2 s windows (Badger compresses them ~2.5×).
	DiskSize int64
	// Full is how long the disk stays full with the uplink cut, across
	// an agent restart; default 30s.
	Full time.Duration
	// Damages are the spool damages to run; default all (see damages).
	Damages []string
	// FillerDiskSize is the tmpfs of the scenario where another program
	// fills the disk; default 24 MiB (room to spare above the reserve
	// until dd takes it all).
	FillerDiskSize int64
	// Scenarios picks disk_full, disk_filled_by_other and spool_damage;
	// default all.
	Scenarios []string
}

func (o *AgentOptions) defaults() {
	if o.DiskSize == 0 {
		o.DiskSize = 12 << 20
	}
	if o.Full == 0 {
		o.Full = 30 * time.Second
	}
	if o.FillerDiskSize == 0 {
		o.FillerDiskSize = 24 << 20
	}
	if len(o.Scenarios) == 0 {
		o.Scenarios = []string{"disk_full", "disk_filled_by_other", "spool_damage"}
	}
	if len(o.Damages) == 0 {
		for _, d := range damages {
			o.Damages = append(o.Damages, d.name)
		}
	}
}

// RunAgent runs the disk-full scenario and then each spool damage, and
// returns one RESULT line each.
func RunAgent(ctx context.Context, o AgentOptions) ([]string, error) {
	o.defaults()
	var lines []string
	if slices.Contains(o.Scenarios, "disk_full") {
		l, err := diskFull(ctx, o)
		if err != nil {
			return lines, fmt.Errorf("disk full: %w", err)
		}
		lines = append(lines, l)
	}
	if slices.Contains(o.Scenarios, "disk_filled_by_other") {
		l, err := diskFilledByOther(ctx, o)
		if err != nil {
			return lines, fmt.Errorf("disk filled by another program: %w", err)
		}
		lines = append(lines, l)
	}
	if !slices.Contains(o.Scenarios, "spool_damage") {
		return lines, nil
	}
	for _, name := range o.Damages {
		l, err := spoolDamage(ctx, o, name)
		if err != nil {
			return lines, fmt.Errorf("spool damage %s: %w", name, err)
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// diskFull puts the agent's data directory on a small tmpfs, cuts the
// uplink until the spool reaches the disk reserve and drops windows (its
// oldest, or the new one when it holds none) for a while,
// kills the agent with -9 and starts it again on the full disk, restores
// the uplink and lets the spool drain. Every window from the first to the
// last stored must be stored, or counted by the agent as dropped for the
// full disk, or fall in the seconds the agent was not running.
func diskFull(ctx context.Context, o AgentOptions) (string, error) {
	dir := filepath.Join(o.Dir, "disk-full")
	r, stop, err := startAgentOnTmpfs(ctx, dir, o.DiskSize)
	if err != nil {
		return "", err
	}
	defer stop()
	fail := func(err error) (string, error) { return "", fmt.Errorf("%w\n%s", err, r.st.Logs()) }
	if _, err := r.waitMetrics(ctx, 60*time.Second, "5 windows", func(m map[string]float64) bool { return m["windows_total"] >= 5 }); err != nil {
		return fail(err)
	}
	fmt.Fprintf(os.Stderr, "disk full: %d MiB tmpfs; uplink cut until the spool drops windows for the reserve, then %v\n", o.DiskSize>>20, o.Full)
	r.cutUplink()
	m, err := r.waitMetrics(ctx, 10*time.Minute, "the disk reserve", func(m map[string]float64) bool { return m["spool_disk_dropped_total"] >= 1 })
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(os.Stderr, "disk full: reserve reached with %.0f batches spooled, %.0f bytes free\n", m["spool_batches"], m["disk_free_bytes"])
	if err := sleep(ctx, o.Full/2); err != nil {
		return "", err
	}
	// Restart on the full disk: kill -9, start again.
	before, err := r.agentMetrics(ctx)
	if err != nil {
		return fail(err)
	}
	killed := time.Now()
	r.st.Agent.Kill()
	if err := r.restartAgent(); err != nil {
		return fail(err)
	}
	if _, err := r.waitMetrics(ctx, 60*time.Second, "the restarted agent", func(m map[string]float64) bool { return m["cycles_total"] >= 1 }); err != nil {
		return fail(err)
	}
	up := time.Now()
	if err := sleep(ctx, o.Full/2); err != nil {
		return "", err
	}
	if r.st.Agent.Exited() {
		return fail(fmt.Errorf("the agent restarted on a full disk died"))
	}
	r.restoreUplink(ctx)
	// The disk must have room again once the spool drained: wait for
	// windows spooled after the drain.
	after, stored, err := r.settleAfterFull(ctx)
	if err != nil {
		return fail(err)
	}
	dropped := before["spool_disk_dropped_total"] + after["spool_disk_dropped_total"]
	// The agent is not running from the kill until its first window
	// after the restart; windows open at the kill are not shipped.
	gap := [][2]float64{{unix(killed) - 2, unix(up) + 4}}
	expected, distinct, dups, notCollected, missing := windowAccount(stored, gap)
	lost := max(0, missing-int(dropped))
	crashed := 0
	if b, _ := os.ReadFile(r.st.Agent.Log); strings.Contains(string(b), "SIGBUS") || strings.Contains(string(b), "fatal error") {
		crashed = 1
	}
	return fmt.Sprintf("RESULT scenario=disk_full tmpfs_mib=%d windows_expected=%d windows_stored=%d lost=%d duplicates=%d dropped_counted=%.0f missing_outside_restart=%d not_collected_during_restart=%d restarts=1 crashes=%d history_disk_dropped_samples=%.0f",
		o.DiskSize>>20, expected, distinct, lost, dups, dropped, missing, notCollected, crashed,
		before["history_disk_dropped_samples_total"]+after["history_disk_dropped_samples_total"]), nil
}

// startAgentOnTmpfs starts an agent in dir with its data directory
// (dir/agent) on a tmpfs of size bytes; stop stops the agent, then
// unmounts.
func startAgentOnTmpfs(ctx context.Context, dir string, size int64) (r *agentRun, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	umount, err := mountTmpfs(filepath.Join(dir, "agent"), size)
	if err != nil {
		return nil, nil, err
	}
	if r, err = startAgentRun(ctx, dir); err != nil {
		umount()
		return nil, nil, err
	}
	return r, func() { r.stop(); umount() }, nil
}

// settleAfterFull waits, after the uplink came back, for the spool to
// drain and for five windows spooled after that (the disk has room
// again), then for the store to hold everything shipped. It returns the
// agent's metrics then and the window ends stored.
func (r *agentRun) settleAfterFull(ctx context.Context) (map[string]float64, []float64, error) {
	// An agent that started on a full disk opens its spool up to ~40 s
	// after space returned (its retry): until then spool_batches is 0
	// and the batches it held from before are not published yet.
	after, err := r.waitMetrics(ctx, 180*time.Second, "the spool to open and drain", func(m map[string]float64) bool {
		open, known := m["spool_open"]
		return m["spool_batches"] == 0 && m["memory_queue_batches"] == 0 && (!known || open == 1)
	})
	if err != nil {
		return nil, nil, err
	}
	w0 := after["windows_total"]
	after, err = r.waitMetrics(ctx, 60*time.Second, "windows after the drain", func(m map[string]float64) bool { return m["windows_total"] >= w0+5 })
	if err != nil {
		return nil, nil, err
	}
	stored, err := r.drain(ctx)
	return after, stored, err
}
