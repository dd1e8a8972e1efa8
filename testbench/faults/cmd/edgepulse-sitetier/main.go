// Command edgepulse-sitetier measures the two site-tier designs of
// docs/site-tier.md on real processes — agents publishing through a plain
// leaf straight into the hub stream (direct), and a leaf with its own
// JetStream domain whose site stream the hub sources (sourced) — with the
// counting proxy on the leaf's uplink, and prints one SITETIER line per
// mode.
//
//	go run ./testbench/faults/cmd/edgepulse-sitetier [-modes direct,sourced -idle 3m -load 2m -outage 1m -agents 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/edgepulse/edgepulse/testbench/faults"
)

func main() {
	d := faults.DefaultSiteTierOptions("")
	modes := flag.String("modes", faults.ModeDirect+","+faults.ModeSourced, "modes to measure, in order")
	flag.IntVar(&d.Agents, "agents", d.Agents, "agents on the site")
	flag.DurationVar(&d.Idle, "idle", d.Idle, "idle measurement")
	flag.DurationVar(&d.Load, "load", d.Load, "measurement with the agents running")
	flag.DurationVar(&d.Outage, "outage", d.Outage, "uplink cut before the drain measurement")
	flag.DurationVar(&d.Window, "window", d.Window, "agent window")
	dir := flag.String("dir", "", "working directory (default: a new temporary one, removed on success)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "edgepulse-sitetier-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	fmt.Fprintf(os.Stderr, "edgepulse-sitetier: working in %s\n", work)
	for _, m := range strings.Split(*modes, ",") {
		o := d
		o.Mode, o.Dir, o.Progress = m, filepath.Join(work, m), os.Stderr
		r, err := faults.RunSiteTier(ctx, o)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", m, err)
			os.Exit(1)
		}
		fmt.Println(r.Line())
	}
	if *dir == "" {
		os.RemoveAll(work)
	}
}
