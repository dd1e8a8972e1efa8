package chaos

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// agentRun is one site's stack whose agent and leaf the agent scenarios
// stop, kill and restart: the agent serves /metrics on its own port, and
// the uplink is cut by stopping the site leaf (the agent then spools).
type agentRun struct {
	st       *harness.Stack
	dir      string
	agentCfg string
	agents   int // agent processes started
	leaf     *harness.Proc
	leafArgs []string
	leafEnv  []string
}

// startAgentRun starts the stack with 2 s windows; dataDir, when set, is
// mounted (or prepared) by the caller at <dir>/agent before the agent runs.
func startAgentRun(ctx context.Context, dir string) (*agentRun, error) {
	// Each agent process binds its /metrics on a port of its own, read
	// from its log (agentMetrics).
	st, err := harness.StartStack(ctx, harness.StackOptions{Dir: dir, ProcRoot: "/proc", Window: "2s",
		AgentExtra: "metrics_listen: 127.0.0.1:0\n"})
	if err != nil {
		return nil, err
	}
	r := &agentRun{st: st, dir: dir,
		agentCfg: filepath.Join(dir, "agent.yaml"), agents: 1, leaf: st.Leaf,
		leafArgs: slices.Clone(st.Leaf.Cmd.Args[1:])}
	// The leaf bound a port of its own (-p -1); a restart must take the
	// same one, which the agent was given (the one port bound again
	// after release: restoreUplink fails when another process took it).
	_, port, err := net.SplitHostPort(st.SiteLeafAddr())
	if err != nil {
		st.Stop()
		return nil, err
	}
	for i := range r.leafArgs {
		if r.leafArgs[i] == "-p" && i+1 < len(r.leafArgs) {
			r.leafArgs[i+1] = port
		}
	}
	for _, e := range st.Leaf.Cmd.Env {
		if strings.HasPrefix(e, "EDGEPULSE_") {
			r.leafEnv = append(r.leafEnv, e)
		}
	}
	return r, nil
}

func (r *agentRun) stop() {
	r.st.Agent.Stop()
	if r.leaf != r.st.Leaf {
		r.leaf.Stop()
	}
	r.st.Stop()
}

// cutUplink stops the site leaf; restoreUplink starts it again on the
// same port.
func (r *agentRun) cutUplink() { r.leaf.Stop() }

func (r *agentRun) restoreUplink(ctx context.Context) error {
	p, err := harness.Start("leaf", r.dir, r.leafEnv, r.st.Bins.NATSServer, r.leafArgs...)
	if err != nil {
		return err
	}
	r.leaf = p
	// Its own log line, not a connection to whoever holds the port.
	addr, _, err := harness.WaitNATS(ctx, p, false, 30*time.Second)
	if err == nil && addr != r.st.SiteLeafAddr() {
		err = fmt.Errorf("chaos: the restarted leaf listens on %s, not %s", addr, r.st.SiteLeafAddr())
	}
	return err
}

// restartAgent starts a new agent process on the same config and data.
func (r *agentRun) restartAgent() error {
	p, err := harness.Start("agent", r.dir, nil, r.st.Bins.Agent, "run", "--config", r.agentCfg)
	if err != nil {
		return err
	}
	r.st.Agent = p
	r.agents++
	return nil
}

// agentMetrics reads the agent's /metrics into name → value (unlabelled
// series only).
func (r *agentRun) agentMetrics(ctx context.Context) (map[string]float64, error) {
	u, err := harness.AgentMetricsURL(r.st.Agent)
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") || strings.Contains(l, "{") {
			continue
		}
		f := strings.Fields(l)
		if len(f) == 2 {
			v, _ := strconv.ParseFloat(f[1], 64)
			m[strings.TrimPrefix(f[0], "edgepulse_agent_")] = v
		}
	}
	return m, sc.Err()
}

// waitMetrics polls the agent's metrics until cond holds.
func (r *agentRun) waitMetrics(ctx context.Context, timeout time.Duration, what string, cond func(map[string]float64) bool) (map[string]float64, error) {
	var m map[string]float64
	err := harness.WaitFor(ctx, timeout, func() error {
		var err error
		if r.st.Agent.Exited() {
			return fmt.Errorf("agent exited:\n%s", r.st.Agent.Tail(2000))
		}
		if m, err = r.agentMetrics(ctx); err != nil {
			return err
		}
		if !cond(m) {
			return fmt.Errorf("waiting for %s", what)
		}
		return nil
	})
	return m, err
}

// drain waits until the agent's spool is empty and the stored windows of
// node_load1 stop changing, then stops the agent and returns them.
func (r *agentRun) drain(ctx context.Context) ([]float64, error) {
	if _, err := r.waitMetrics(ctx, 120*time.Second, "the spool to drain", func(m map[string]float64) bool {
		return m["spool_batches"] == 0
	}); err != nil {
		return nil, err
	}
	r.st.Agent.Stop()
	var stored []float64
	err := harness.WaitFor(ctx, 60*time.Second, func() error {
		prev := len(stored)
		var err error
		if stored, err = windowEnds(ctx, r.st.APIURL, "node_load1"); err != nil {
			return err
		}
		if len(stored) == 0 || len(stored) != prev {
			return fmt.Errorf("still draining: %d windows", len(stored))
		}
		time.Sleep(time.Second)
		return nil
	})
	return stored, err
}

// mountTmpfs mounts a tmpfs of size bytes at dir (root only); the
// returned func unmounts it.
func mountTmpfs(dir string, size int64) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mount tmpfs at %s (the disk-full scenario needs root): %w: %s", dir, err, out)
	}
	return func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			exec.Command("umount", "-l", dir).Run()
		}
	}, nil
}

// windowAccount counts node_load1's stored window ends (seconds, 2 s
// apart) against the span from the first to the last: expected, stored
// (distinct), duplicates, and the missing ends that fall in any of the
// given [from, to] intervals (windows excused: the agent was not running,
// or the disk was full and the agent counted them) versus elsewhere.
func windowAccount(stored []float64, excused [][2]float64) (expected, distinct, dups, missingExcused, missingOther int) {
	if len(stored) == 0 {
		return
	}
	seen := map[float64]bool{}
	for _, s := range stored {
		if seen[s] {
			dups++
		}
		seen[s] = true
	}
	distinct = len(seen)
	first, last := stored[0], stored[len(stored)-1]
	for t := first; t <= last; t += 2 {
		expected++
		if seen[t] {
			continue
		}
		ex := false
		for _, iv := range excused {
			if t >= iv[0] && t <= iv[1] {
				ex = true
			}
		}
		if ex {
			missingExcused++
		} else {
			missingOther++
		}
	}
	return
}

func unix(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
