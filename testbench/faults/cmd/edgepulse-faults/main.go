// Command edgepulse-faults runs the fault testbench's scenarios on real
// processes (see package faults) and ends with one line:
//
//	RESULT windows_expected=<n> windows_stored=<n> duplicates=<n> lost=<n> drain_s=<x> crash_restarts=<n>
//
// counts summed over the scenarios, drain_s from scenario A (the outage).
// The exit status is 1 when an invariant failed.
//
//	go run ./testbench/faults/cmd/edgepulse-faults [-sites 3 -agents 5 -outage 2m -kills 20]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/edgepulse/edgepulse/testbench/faults"
)

func main() {
	a, b := faults.DefaultOutageOptions(), faults.DefaultKillOptions()
	flag.IntVar(&a.Sites, "sites", a.Sites, "scenario A: sites")
	flag.IntVar(&a.AgentsPerSite, "agents", a.AgentsPerSite, "scenario A: agents per site")
	flag.DurationVar(&a.Outage, "outage", a.Outage, "scenario A: how long the uplinks are cut")
	flag.IntVar(&b.Kills, "kills", b.Kills, "scenario B: SIGKILL + restart cycles")
	flag.Uint64Var(&b.Seed, "seed", uint64(time.Now().UnixNano()), "scenario B: seed for the kill moments")
	dir := flag.String("dir", "", "working directory (default: a new temporary one, removed on success)")
	only := flag.String("only", "", "run only scenario A or B")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "edgepulse-faults-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	a.Dir, b.Dir = filepath.Join(work, "A"), filepath.Join(work, "B")
	a.Progress, b.Progress = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "edgepulse-faults: working in %s (scenario B seed %d)\n", work, b.Seed)

	var results []faults.Result
	drain := -1.0
	if *only == "" || *only == "A" {
		r, err := faults.RunOutage(ctx, a)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scenario A:", err)
			os.Exit(2)
		}
		results = append(results, r)
		drain = r.DrainS
		fmt.Println(r.Detail())
	}
	if *only == "" || *only == "B" {
		r, err := faults.RunKills(ctx, b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scenario B:", err)
			os.Exit(2)
		}
		results = append(results, r)
		fmt.Println(r.Detail())
	}
	sum := faults.Sum(results...)
	sum.DrainS = drain
	ok := true
	for _, r := range results {
		ok = ok && r.OK()
	}
	for _, p := range sum.Problems {
		fmt.Println("PROBLEM", p)
	}
	if ok && *dir == "" {
		os.RemoveAll(work)
	}
	fmt.Println(sum.Line())
	if !ok {
		os.Exit(1)
	}
}
