// Command benchagent measures the agent's footprint against the usual
// alternative in the same run: edgepulse-agent collecting this host's /proc
// at 1 s (rolling up and publishing to a local hub), and node_exporter
// scraped every 1 s by Prometheus in agent mode remote-writing to a local
// receiver. It samples each process's CPU time and peak RSS from /proc and
// ends with
//
//	RESULT series=<n> minutes=<m> load1=<l> agent_cpu_pct=<x> agent_cpu_tail_pct=<x>
//	  agent_rss_mb=<y> agent_rss_peak_mb=<y> agent_rss_tail_start_mb=<y>
//	  agent_rss_tail_range_mb=<y> agent_rss_tail_slope_mb_per_10min=<y>
//	  peer_cpu_pct=<x> peer_rss_mb=<y> peer_rss_peak_mb=<y>
//
// CPU is the share of one core over the run (and over its tail, the last
// 10 minutes); RSS is VmRSS at the end and VmHWM (peak), summed over
// node_exporter and Prometheus for the peer; the tail's RSS range and its
// least-squares slope (MB per 10 minutes) show whether the agent still
// grows: a sawtooth has a range and no slope. The agent runs with the shipped defaults.
//
// With -baseline <agent binary> (for example one built from main), that
// agent runs beside this checkout's, with the same defaults and the same
// leaf under another host name, and the line ends with
// base_cpu_pct=<x> base_cpu_tail_pct=<x> base_rss_mb=<y> base_rss_peak_mb=<y>:
// on a shared host, a change's CPU effect is only trustworthy against a
// baseline measured over the same minutes.
//
// The agent measured is -agent (make bench-agent passes bin/edgepulse-agent,
// the static binary make build ships), else a plain go build of this
// checkout.
//
// Every run also measures the agent's start: agent_start_s is the time
// from its launch until its /metrics answers (the spool and the raw
// history are open by then), agent_start_rss_peak_mb its VmHWM one minute
// after launch; both end the RESULT line. With -seed-history, VmHWM is
// then reset (/proc/<pid>/clear_refs) once the agent paged its tables out
// (agent_peak_reset_s after launch), agent_rss_peak_mb is the larger of
// the start's peak and the peak since, and agent_rss_peak_after_start_mb
// (base_* likewise) the peak since the reset.
//
// With -seed-history D (make bench-agent-full-history: 24h), D of raw
// history ending now is written into each agent's data_dir before it
// starts (seed.go), and a line
//
//	RESULT seed_hours=<h> seed_s=<s> seed_history_mb=<y> seed_disk_mb=<y> ...
//
// comes first: the history's stored bytes (against its bound) and the
// data_dir's size on disk.
//
// Usage: go run ./testbench/benchagent [-agent bin] [-duration 15m] [-tail 10m] [-baseline bin] [-seed-history 24h]
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
	duration := flag.Duration("duration", 15*time.Minute, "how long both stacks run")
	tail := flag.Duration("tail", 10*time.Minute, "the last part of the run checked for flat RSS and CPU (default: 10m, or 2/3 of a shorter run)")
	every := flag.Duration("every", 30*time.Second, "sampling interval")
	baseline := flag.String("baseline", "", "another edgepulse-agent binary run beside this checkout's and reported as base_*")
	agentBin := flag.String("agent", "", "the edgepulse-agent binary measured (make bench-agent: bin/edgepulse-agent as make build ships it; default: a plain go build of this checkout)")
	seed := flag.Duration("seed-history", 0, "write this much raw history (ending now) into each agent's data_dir before it starts (0: none)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *duration, *tail, *every, *agentBin, *baseline, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "bench-agent:", err)
		os.Exit(1)
	}
}

// usage is a process's CPU time (user+system) and peak RSS.
type usage struct {
	cpu   time.Duration
	rssKB int64
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
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			u.rssKB, _ = strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return u, nil
}

func run(ctx context.Context, duration, tail, every time.Duration, agentBin, baseline string, seed time.Duration) error {
	for _, bin := range []string{"prometheus", "prometheus-node-exporter"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found; install with: apt-get install -y prometheus prometheus-node-exporter", bin)
		}
	}
	if tail <= 0 || tail > duration {
		tail = duration * 2 / 3
	}
	dir, err := os.MkdirTemp("", "edgepulse-bench-agent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Edgepulse: the hub and a site leaf, and the agent on the real /proc
	// with the shipped defaults (deploy/agent.yaml: 1 s collection, 60 s
	// windows, history on, detection on, its own /metrics served). Only the
	// agent process is measured.
	st, err := harness.StartStack(ctx, harness.StackOptions{Dir: dir, ProcRoot: "/proc", Host: "bench", NoAgent: true})
	if err != nil {
		return err
	}
	defer st.Stop()
	if agentBin == "" {
		agentBin = st.Bins.Agent
	}
	series, err := countSeries(agentBin)
	if err != nil {
		return err
	}
	hosts := []string{"bench"}
	if baseline != "" {
		hosts = append(hosts, "base")
	}
	cfgs := map[string]agentConfig{}
	for _, h := range hosts {
		if cfgs[h], err = writeAgentConfig(dir, st, h); err != nil {
			return err
		}
	}
	if seed > 0 {
		if err := seedAgents(seed, hosts, cfgs); err != nil {
			return err
		}
	}
	launched := time.Now()
	agent, err := startAgent(dir, cfgs["bench"], agentBin)
	if err != nil {
		return err
	}
	defer agent.Stop()
	// On a seeded history the start's peak (reading every stored minute)
	// would hide the later ones in VmHWM: it is reset after the first
	// minute (start.go).
	agentStart := watchStart(agent, cfgs["bench"].metrics, launched, seed > 0)
	var base *harness.Proc
	var baseStart *startWatch
	if baseline != "" {
		launched := time.Now()
		if base, err = startAgent(dir, cfgs["base"], baseline); err != nil {
			return err
		}
		defer base.Stop()
		baseStart = watchStart(base, cfgs["base"].metrics, launched, seed > 0)
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

	// Let both settle, then sample every process every `every` for the
	// duration: CPU time, RSS now and peak RSS.
	fmt.Printf("both stacks up; %d agent series; measuring for %v (tail %v, load %s)\n", series, duration, tail, loadavg())
	time.Sleep(10 * time.Second)
	pids := map[string]int{"agent": agent.Cmd.Process.Pid, "node_exporter": ne.Cmd.Process.Pid, "prometheus": prom.Cmd.Process.Pid}
	names := []string{"agent", "node_exporter", "prometheus"}
	if base != nil {
		pids["base"] = base.Cmd.Process.Pid
		names = append(names, "base")
	}
	var samples []sample
	take := func() error {
		s := sample{at: time.Now(), u: map[string]usage{}}
		for name, pid := range pids {
			u, err := procUsage(pid)
			if err != nil {
				return fmt.Errorf("%s exited during the run: %w", name, err)
			}
			s.u[name] = u
		}
		samples = append(samples, s)
		return nil
	}
	if err := take(); err != nil {
		return err
	}
	t0 := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Since(t0) < duration {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := take(); err != nil {
			return err
		}
		last := samples[len(samples)-1]
		fmt.Printf("t=%4.0fs agent rss %5.1f MB (peak %5.1f)  node_exporter %5.1f MB  prometheus %5.1f MB\n",
			last.at.Sub(t0).Seconds(), kbMB(last.u["agent"].rssKB), kbMB(last.u["agent"].hwmKB),
			kbMB(last.u["node_exporter"].rssKB), kbMB(last.u["prometheus"].rssKB))
	}
	first, end := samples[0], samples[len(samples)-1]
	// The tail starts at the first sample at least `tail` before the end.
	ti := 0
	for i, s := range samples {
		if end.at.Sub(s.at) >= tail {
			ti = i
		}
	}
	tailStart := samples[ti]
	pct := func(a, b sample, names ...string) float64 {
		var d time.Duration
		for _, n := range names {
			d += b.u[n].cpu - a.u[n].cpu
		}
		return 100 * d.Seconds() / b.at.Sub(a.at).Seconds()
	}
	sum := func(s sample, f func(usage) int64, names ...string) float64 {
		var kb int64
		for _, n := range names {
			kb += f(s.u[n])
		}
		return kbMB(kb)
	}
	rss := func(u usage) int64 { return u.rssKB }
	hwm := func(u usage) int64 { return u.hwmKB }
	// Flatness: the agent's RSS range over the tail, and its trend (the
	// least-squares slope, per 10 minutes): a sawtooth has a range and no
	// slope, growth has a slope.
	lo, hi := tailStart.u["agent"].rssKB, tailStart.u["agent"].rssKB
	for _, s := range samples[ti:] {
		lo, hi = min(lo, s.u["agent"].rssKB), max(hi, s.u["agent"].rssKB)
	}
	slope := rssSlope(samples[ti:], "agent") * 600
	// The peak over the whole run: with VmHWM reset after the first
	// minute, the larger of the start's and the one since.
	sr := agentStart.wait()
	agentPeak := max(sum(end, hwm, "agent"), kbMB(sr.hwmKB))
	var br startResult
	basePeak := 0.0
	if base != nil {
		br = baseStart.wait()
		basePeak = max(sum(end, hwm, "base"), kbMB(br.hwmKB))
	}
	if sr.reset {
		fmt.Printf("VmHWM reset %v after launch: the peaks below are since then; agent's start peak %.1f MB\n", sr.resetAfter.Round(time.Second), kbMB(sr.hwmKB))
	}
	for _, n := range names {
		fmt.Printf("%-14s cpu %6.2f %% of one core (tail %6.2f %%)   rss end %6.1f MB   peak %6.1f MB\n",
			n, pct(first, end, n), pct(tailStart, end, n), sum(end, rss, n), sum(end, hwm, n))
	}
	fmt.Printf("remote write received %d bytes (%.0f per minute)\n", rwBytes.Load(), float64(rwBytes.Load())/end.at.Sub(first.at).Minutes())
	fmt.Printf("RESULT series=%d minutes=%.1f load1=%s agent_cpu_pct=%.2f agent_cpu_tail_pct=%.2f agent_rss_mb=%.1f agent_rss_peak_mb=%.1f agent_rss_tail_start_mb=%.1f agent_rss_tail_range_mb=%.1f agent_rss_tail_slope_mb_per_10min=%.2f peer_cpu_pct=%.2f peer_rss_mb=%.1f peer_rss_peak_mb=%.1f",
		series, end.at.Sub(first.at).Minutes(), loadavg(), pct(first, end, "agent"), pct(tailStart, end, "agent"),
		sum(end, rss, "agent"), agentPeak, sum(tailStart, rss, "agent"), kbMB(hi-lo), slope,
		pct(first, end, "node_exporter", "prometheus"), sum(end, rss, "node_exporter", "prometheus"), sum(end, hwm, "node_exporter", "prometheus"))
	if base != nil {
		fmt.Printf(" base_cpu_pct=%.2f base_cpu_tail_pct=%.2f base_rss_mb=%.1f base_rss_peak_mb=%.1f",
			pct(first, end, "base"), pct(tailStart, end, "base"), sum(end, rss, "base"), basePeak)
	}
	fmt.Printf(" agent_start_s=%.2f agent_start_rss_peak_mb=%.1f", sr.took.Seconds(), kbMB(sr.hwmKB))
	if sr.reset {
		fmt.Printf(" agent_rss_peak_after_start_mb=%.1f agent_peak_reset_s=%.0f", sum(end, hwm, "agent"), sr.resetAfter.Seconds())
	}
	if base != nil && br.reset {
		fmt.Printf(" base_start_s=%.2f base_start_rss_peak_mb=%.1f base_rss_peak_after_start_mb=%.1f", br.took.Seconds(), kbMB(br.hwmKB), sum(end, hwm, "base"))
	}
	fmt.Println()
	return nil
}

type sample struct {
	at time.Time
	u  map[string]usage
}

func kbMB(kb int64) float64 { return float64(kb) / 1024 }

// rssSlope is the least-squares slope of a process's RSS over samples,
// in MB per second (0 with fewer than two samples).
func rssSlope(samples []sample, name string) float64 {
	if len(samples) < 2 {
		return 0
	}
	var n, sx, sy, sxx, sxy float64
	for _, s := range samples {
		x := s.at.Sub(samples[0].at).Seconds()
		y := kbMB(s.u[name].rssKB)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// loadavg is the 1-minute load average (the host is shared: CPU shares
// are only comparable within one run).
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// agentConfig is one agent's config file and the address of its /metrics.
type agentConfig struct {
	host, path, metrics string
}

// writeAgentConfig writes an agent config with the shipped defaults: only
// what names this host and points at the stack differs from
// deploy/agent.yaml.
func writeAgentConfig(dir string, st *harness.Stack, host string) (agentConfig, error) {
	mport, err := harness.FreePort()
	if err != nil {
		return agentConfig{}, err
	}
	c := agentConfig{host: host, path: filepath.Join(dir, host+".yaml"), metrics: fmt.Sprintf("127.0.0.1:%d", mport)}
	err = os.WriteFile(c.path, fmt.Appendf(nil, "site: siteA\nhost: %s\nnats_url: %s\ndata_dir: %s\nmetrics_listen: %s\n",
		host, st.LeafURL, filepath.Join(dir, "agent-"+host), c.metrics), 0o644)
	return c, err
}

// startAgent runs bin on the config.
func startAgent(dir string, c agentConfig, bin string) (*harness.Proc, error) {
	return harness.Start("agent-"+c.host, dir, nil, bin, "run", "--config", c.path)
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
