package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// Options configure a check run.
type Options struct {
	Dir       string        // working directory (logs, data); required
	Dashboard string        // dashboard JSON; default testdata/node-exporter-full.json beside this package
	Window    time.Duration // the agent's window and Prometheus's scrape interval; default 10s
	Warmup    time.Duration // how long both systems collect before the queries; default 3m
	Span      time.Duration // the range queries' span; default 2m, at most Warmup
	Progress  io.Writer     // progress lines; nil: none
}

// ErrMissingBinary is returned when prometheus or
// prometheus-node-exporter is not installed (Debian packages
// prometheus and prometheus-node-exporter).
var ErrMissingBinary = errors.New("dashboard: binary missing")

// Class is one dashboard row's counts.
type Class struct {
	Row                             string
	Queries, WithData, PromWithData int
	Errors, PromErrors, Mismatches  int
	OnlyProm                        []string // targets only Prometheus answers
}

// Report is the outcome of a check.
type Report struct {
	Queries, WithData, PromWithData int
	Errors, PromErrors, Mismatches  int
	Classes                         []*Class
	Vars, PromVars                  map[string]string
	MismatchList                    []Mismatch
	ErrorList                       []string
	RateInterval                    time.Duration
	// NotCompared counts disagreeing series of the exporter's own metrics
	// (SelfMetric: the agent's process against node_exporter's).
	NotCompared int
	RAMUsed     [2]float64 // the RAM Used stat panel: Edgepulse, Prometheus
}

// Run starts a one-host stack on this host's /proc (agent windows of
// o.Window) beside prometheus-node-exporter scraped by Prometheus at the
// same interval, lets both collect for o.Warmup, then resolves the
// dashboard's variables against each system and runs every target as an
// instant and a range query on both.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Window == 0 {
		o.Window = 10 * time.Second
	}
	if o.Warmup == 0 {
		o.Warmup = 3 * time.Minute
	}
	if o.Span == 0 {
		o.Span = min(2*time.Minute, o.Warmup)
	}
	if o.Dashboard == "" {
		root, err := harness.RepoRoot()
		if err != nil {
			return nil, err
		}
		o.Dashboard = filepath.Join(root, "testbench", "dashboard", "testdata", "node-exporter-full.json")
	}
	progress := func(format string, a ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, time.Now().Format("15:04:05")+" "+format+"\n", a...)
		}
	}
	for _, b := range []string{"prometheus", "prometheus-node-exporter"} {
		if _, err := exec.LookPath(b); err != nil {
			return nil, fmt.Errorf("%w: %s (apt-get install prometheus prometheus-node-exporter)", ErrMissingBinary, b)
		}
	}
	d, err := Load(o.Dashboard)
	if err != nil {
		return nil, err
	}
	progress("starting the stack (agent windows %v) and Prometheus scraping prometheus-node-exporter every %v", o.Window, o.Window)
	stack, err := harness.StartStack(ctx, harness.StackOptions{Dir: o.Dir, ProcRoot: "/proc", Window: o.Window.String()})
	if err != nil {
		return nil, err
	}
	defer stack.Stop()
	prom, stop, err := startPrometheus(ctx, o.Dir, o.Window)
	if err != nil {
		return nil, err
	}
	defer stop()
	progress("collecting for %v", o.Warmup)
	select {
	case <-time.After(o.Warmup):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if stack.Agent.Exited() || stack.Agg.Exited() {
		return nil, fmt.Errorf("dashboard: stack died:\n%s", stack.Logs())
	}
	edge, pc := &Client{Base: stack.APIURL}, &Client{Base: prom}
	r := &Report{RateInterval: max(4*o.Window, time.Minute)}
	if r.Vars, err = Resolve(ctx, edge, d.Variables); err != nil {
		return nil, fmt.Errorf("edgepulse: %w", err)
	}
	if r.PromVars, err = Resolve(ctx, pc, d.Variables); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	progress("variables: edgepulse %v, prometheus %v; running %d targets on each", r.Vars, r.PromVars, len(d.Targets))
	// Two windows in the past, so Prometheus's band (±2 scrape intervals)
	// is complete on both sides.
	now := time.Now().Add(-2 * o.Window)
	eo := runTargets(ctx, edge, d.Targets, r.Vars, r.RateInterval, now, o.Span, o.Window, false)
	po := runTargets(ctx, pc, d.Targets, r.PromVars, r.RateInterval, now, o.Span, o.Window, true)
	byRow := map[string]*Class{}
	for i, t := range d.Targets {
		c := byRow[t.Row]
		if c == nil {
			c = &Class{Row: t.Row}
			byRow[t.Row] = c
			r.Classes = append(r.Classes, c)
		}
		c.Queries++
		r.Queries++
		e, p := eo[i], po[i]
		if e.Err != nil {
			c.Errors++
			r.Errors++
			r.ErrorList = append(r.ErrorList, fmt.Sprintf("%s: %v", t.Expr, e.Err))
		}
		if p.Err != nil {
			c.PromErrors++
			r.PromErrors++
		}
		if e.HasData() {
			c.WithData++
			r.WithData++
		}
		if p.HasData() {
			c.PromWithData++
			r.PromWithData++
			if !e.HasData() {
				c.OnlyProm = append(c.OnlyProm, t.Expr)
			}
		}
		if t.Panel == "RAM Used" && len(e.Instant) == 1 && len(p.Instant) == 1 {
			r.RAMUsed = [2]float64{e.Instant[0].Value, p.Instant[0].Value}
		}
		m := Compare(t, e, p, r.RateInterval)
		if SelfMetric(t.Expr) {
			r.NotCompared += len(m)
			continue
		}
		c.Mismatches += len(m)
		r.Mismatches += len(m)
		r.MismatchList = append(r.MismatchList, m...)
	}
	return r, nil
}

// Print writes the per-class table, the mismatches, the errors and the
// RESULT line.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%-30s %7s %9s %9s %6s %10s\n", "row", "queries", "with_data", "prom_data", "errors", "mismatches")
	for _, c := range r.Classes {
		fmt.Fprintf(w, "%-30s %7d %9d %9d %6d %10d\n", c.Row, c.Queries, c.WithData, c.PromWithData, c.Errors, c.Mismatches)
	}
	for _, c := range r.Classes {
		for _, e := range c.OnlyProm {
			fmt.Fprintf(w, "only prometheus has data: [%s] %s\n", c.Row, e)
		}
	}
	for _, m := range r.MismatchList {
		fmt.Fprintf(w, "mismatch (tolerance %.0f %%): [%s / %s] %s {%s}: edgepulse %g, prometheus %g (%g to %g within two scrapes either side)\n",
			100*m.Tolerance, m.Target.Row, m.Target.Panel, shorten(m.Target.Expr), m.Series, m.Edge, m.Prom, m.PromLo, m.PromHi)
	}
	fmt.Fprintf(w, "not compared: %d series of the exporter's own process_* and scrape durations differ (the agent is not node_exporter)\n", r.NotCompared)
	if r.RAMUsed[1] != 0 {
		fmt.Fprintf(w, "RAM Used: edgepulse %.3f %%, prometheus %.3f %% (%+.2f %% relative)\n", r.RAMUsed[0], r.RAMUsed[1], 100*(r.RAMUsed[0]/r.RAMUsed[1]-1))
	}
	for _, e := range r.ErrorList {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	fmt.Fprintf(w, "RESULT dashboard_queries=%d with_data=%d prometheus_with_data=%d errors=%d value_mismatches=%d\n",
		r.Queries, r.WithData, r.PromWithData, r.Errors, r.Mismatches)
}

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}

// startPrometheus starts prometheus-node-exporter and a Prometheus that
// scrapes it (job "node") every interval; it returns the API's base URL.
func startPrometheus(ctx context.Context, dir string, interval time.Duration) (string, func(), error) {
	nePort, err := harness.FreePort()
	if err != nil {
		return "", nil, err
	}
	promPort, err := harness.FreePort()
	if err != nil {
		return "", nil, err
	}
	var procs []*harness.Proc
	stop := func() {
		for _, p := range slices.Backward(procs) {
			p.Stop()
		}
	}
	ne, err := harness.Start("node-exporter", dir, nil, "prometheus-node-exporter",
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", nePort)) // node_exporter's default collectors
	if err != nil {
		return "", nil, err
	}
	procs = append(procs, ne)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `global: {scrape_interval: %s, evaluation_interval: %s}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:%d"]}]
`, interval, interval, nePort), 0o644); err != nil {
		stop()
		return "", nil, err
	}
	pr, err := harness.Start("prometheus", dir, nil, "prometheus", "--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "prom"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	if err != nil {
		stop()
		return "", nil, err
	}
	procs = append(procs, pr)
	base := fmt.Sprintf("http://127.0.0.1:%d", promPort)
	if err := harness.WaitHTTP(ctx, base+"/-/ready", 60*time.Second); err != nil {
		stop()
		return "", nil, fmt.Errorf("prometheus: %w\n%s", err, pr.Tail(3000))
	}
	return base, stop, nil
}
