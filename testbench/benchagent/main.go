// Command benchagent measures the agent's footprint against the usual
// alternative in the same run: edgepulse-agent collecting this host's /proc
// at 1 s (rolling up and publishing to a local hub), and node_exporter
// scraped every 1 s by Prometheus in agent mode remote-writing to a local
// receiver. It samples each process's CPU time and peak RSS from /proc and
// ends with
//
//	RESULT series=<n> agent_cpu_pct=<x> agent_rss_mb=<y> peer_cpu_pct=<x> peer_rss_mb=<y>
//
// CPU is the share of one core over the run; RSS is the peak (VmHWM),
// summed over node_exporter and Prometheus for the peer.
//
// Usage: go run ./testbench/benchagent [-duration 5m]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

func main() {
	duration := flag.Duration("duration", 5*time.Minute, "how long both stacks run")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "bench-agent:", err)
		os.Exit(1)
	}
}

// usage is a process's CPU time (user+system) and peak RSS.
type usage struct {
	cpu   time.Duration
	hwmKB int64
}

func procUsage(pid int) (usage, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return usage{}, err
	}
	// Fields after the ")" of comm: state is field 3; utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	u := usage{cpu: time.Duration(ut+st) * time.Second / 100} // USER_HZ = 100
	sb, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(sb)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			u.hwmKB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return u, nil
}

func run(ctx context.Context, duration time.Duration) error {
	for _, bin := range []string{"prometheus", "prometheus-node-exporter"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found; install with: apt-get install -y prometheus prometheus-node-exporter", bin)
		}
	}
	dir, err := os.MkdirTemp("", "edgepulse-bench-agent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Edgepulse: the whole stack, the agent on the real /proc at 1 s with
	// 60 s windows. Only the agent process is measured.
	st, err := harness.StartStack(ctx, harness.StackOptions{Dir: dir, ProcRoot: "/proc", Host: "bench"})
	if err != nil {
		return err
	}
	defer st.Stop()
	series, err := countSeries(st.Bins.Agent)
	if err != nil {
		return err
	}

	// The peer: node_exporter scraped at 1 s by Prometheus in agent mode,
	// remote-writing to a receiver that counts and discards.
	nePort, _ := harness.FreePort()
	promPort, _ := harness.FreePort()
	ne, err := harness.Start("node_exporter", dir, nil, "prometheus-node-exporter",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", nePort))
	if err != nil {
		return err
	}
	defer ne.Stop()
	var rwBytes atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		rwBytes.Add(n)
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	promCfg := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(promCfg, fmt.Appendf(nil, `global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:%d"]}]
remote_write:
  - url: http://%s/api/v1/write
`, nePort, ln.Addr()), 0o644)
	prom, err := harness.Start("prometheus", dir, nil, "prometheus", "--enable-feature=agent",
		"--config.file="+promCfg, "--storage.agent.path="+filepath.Join(dir, "prom-agent"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	if err != nil {
		return err
	}
	defer prom.Stop()

	// Let both settle, then measure over the duration.
	fmt.Printf("both stacks up; %d agent series; measuring for %v\n", series, duration)
	time.Sleep(10 * time.Second)
	pids := map[string]int{"agent": st.Agent.Cmd.Process.Pid, "node_exporter": ne.Cmd.Process.Pid, "prometheus": prom.Cmd.Process.Pid}
	start := map[string]usage{}
	for name, pid := range pids {
		if start[name], err = procUsage(pid); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(duration):
	}
	el := time.Since(t0)
	end := map[string]usage{}
	for name, pid := range pids {
		if end[name], err = procUsage(pid); err != nil {
			return fmt.Errorf("%s exited during the run: %w", name, err)
		}
	}
	pct := func(names ...string) float64 {
		var d time.Duration
		for _, n := range names {
			d += end[n].cpu - start[n].cpu
		}
		return 100 * d.Seconds() / el.Seconds()
	}
	mb := func(names ...string) float64 {
		var kb int64
		for _, n := range names {
			kb += end[n].hwmKB
		}
		return float64(kb) / 1024
	}
	for _, n := range []string{"agent", "node_exporter", "prometheus"} {
		fmt.Printf("%-14s cpu %6.2f %% of one core   peak rss %6.1f MB\n", n, pct(n), mb(n))
	}
	fmt.Printf("remote write received %d bytes (%.0f per minute)\n", rwBytes.Load(), float64(rwBytes.Load())/el.Minutes())
	fmt.Printf("RESULT series=%d agent_cpu_pct=%.2f agent_rss_mb=%.1f peer_cpu_pct=%.2f peer_rss_mb=%.1f\n",
		series, pct("agent"), mb("agent"), pct("node_exporter", "prometheus"), mb("node_exporter", "prometheus"))
	return nil
}

// countSeries runs `edgepulse-agent collect --once` and counts its series.
func countSeries(agent string) (int, error) {
	out, err := exec.Command(agent, "collect", "--once").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return 0, fmt.Errorf("collect --once: %w: %s", err, ee.Stderr)
		}
		return 0, err
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n, nil
}
