// Command edgepulse-chaos runs the issue 18 chaos scenarios (package
// testbench/chaos) and prints one RESULT line each.
//
//	edgepulse-chaos [-dir DIR] [-clients 40] [-flood 20s] [-unbounded]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/edgepulse/edgepulse/testbench/chaos"
)

func main() {
	var o chaos.Options
	flag.StringVar(&o.Dir, "dir", "", "working directory (default: a new temporary one)")
	flag.IntVar(&o.Clients, "clients", 40, "heavy-query clients of the flood")
	flag.DurationVar(&o.FloodFor, "flood", 0, "flood duration (default 20s)")
	flag.StringVar(&o.Heavy, "heavy", "", "the flood's heavy query (default {__name__=~\"node_.+\"}[5m])")
	flag.BoolVar(&o.Unbounded, "unbounded", false, "turn the query admission limits off (the behaviour before issue 18)")
	flag.StringVar(&o.AggExtra, "agg-config", "", "YAML appended to the aggregator's config, e.g. 'limits: {heavy_samples: 20000}'")
	flag.StringVar(&o.Only, "only", "", "comma-separated scenarios to run (default all)")
	flag.Parse()
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "edgepulse-chaos-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		o.Dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	lines, err := chaos.Run(ctx, o)
	for _, l := range lines {
		fmt.Println(l)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgepulse-chaos:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "logs in", o.Dir)
}
