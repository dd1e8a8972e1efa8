// Command edgepulse-backhaul is the backhaul meter (package
// testbench/backhaul): sites × hosts of real agents, leaf nodes and an
// aggregator, the uplinks counted by a proxy, Prometheus remote write and
// InfluxDB line protocol computed in the same run from the same samples,
// the techniques table and the fidelity check. It ends with
//
//	RESULT bytes_per_host_minute=<x> series_per_host=<n> prw_1s=<x> prw_15s=<x> influx_10s=<x> frames=<x> acks=<x> clock=<x> …
//
// and exits 1 when a window was lost or a stored value differs from the
// agent's.
//
//	go run ./testbench/backhaul/cmd/edgepulse-backhaul [-sites 2 -hosts 10 -window 60s -duration 11m] [-short]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/edgepulse/edgepulse/testbench/backhaul"
)

func main() {
	o := backhaul.DefaultOptions()
	short := flag.Bool("short", false, "smoke test: 1 site × 2 hosts, 5 s windows, 40 s (other flags given explicitly still apply)")
	sites := flag.Int("sites", o.Sites, "sites (one leaf node and uplink proxy each)")
	hosts := flag.Int("hosts", o.Hosts, "hosts per site (the first host of the first site reads this machine's /proc)")
	window := flag.Duration("window", o.Window, "agent window")
	duration := flag.Duration("duration", o.Duration, "warm-up window + measured windows, in real time")
	lateness := flag.Duration("lateness", 0, "agent lateness (0: min(2s, window/5))")
	seed := flag.Uint64("seed", o.Seed, "seed of the synthetic hosts' dynamics")
	tol := flag.Float64("tolerance", o.Tolerance, "relative error allowed between stored and exact statistics (default: the agents' wire precision)")
	leafComp := flag.String("leaf-compression", "", "leaf remote compression instead of deploy/leaf.conf's s2_best (off, s2_fast, s2_better, s2_best, s2_auto)")
	agentYAML := flag.String("agent-yaml", "", "YAML appended to every agent config, e.g. 'wire: {compress: false}'")
	var siteYAML []string
	flag.Func("site-yaml", "N:YAML appended to site N's agent configs after -agent-yaml (repeatable), e.g. '1:clock: {max_check_every: 1m}': variants compared in the same run by the per-site breakdown", func(v string) error {
		n, y, ok := strings.Cut(v, ":")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 1 || i > 26 {
			return fmt.Errorf("want N:YAML with N a site number 1–26, got %q", v)
		}
		for len(siteYAML) < i {
			siteYAML = append(siteYAML, "")
		}
		siteYAML[i-1] = y
		return nil
	})
	var siteBin []string
	flag.Func("site-agent", "N:PATH: site N's agents run the agent binary at PATH (e.g. built from main) instead of this checkout's (repeatable): before and after in the same run", func(v string) error {
		n, p, ok := strings.Cut(v, ":")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 1 || i > 26 || p == "" {
			return fmt.Errorf("want N:PATH with N a site number 1–26, got %q", v)
		}
		for len(siteBin) < i {
			siteBin = append(siteBin, "")
		}
		siteBin[i-1] = p
		return nil
	})
	dir := flag.String("dir", "", "working directory (default: a new temporary one, removed on success)")
	flag.Parse()
	if *short {
		o = backhaul.ShortOptions()
	}
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "sites":
			o.Sites = *sites
		case "hosts":
			o.Hosts = *hosts
		case "window":
			o.Window = *window
		case "duration":
			o.Duration = *duration
		}
	})
	o.Lateness, o.Seed, o.Tolerance = *lateness, *seed, *tol
	o.LeafCompression, o.AgentYAML, o.SiteAgentYAML, o.SiteAgentBin = *leafComp, *agentYAML, siteYAML, siteBin

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "edgepulse-backhaul-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	o.Dir, o.Progress = work, os.Stderr
	fmt.Fprintf(os.Stderr, "edgepulse-backhaul: working in %s\n", work)
	r, err := backhaul.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgepulse-backhaul:", err)
		os.Exit(2)
	}
	r.Print(os.Stdout)
	if !r.OK() {
		fmt.Fprintf(os.Stderr, "edgepulse-backhaul: check failed; logs and window logs kept in %s\n", work)
		os.Exit(1)
	}
	if *dir == "" {
		os.RemoveAll(work)
	}
}
