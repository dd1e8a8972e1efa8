// Command edgepulse-chaos runs the issue 18 chaos scenarios (package
// testbench/chaos) and prints one RESULT line each.
//
//	edgepulse-chaos [-dir DIR] [-clients 40] [-flood 20s] [-unbounded]
package main

import (
	"context"
	"flag"

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
	chaos.Command("edgepulse-chaos", &o.Dir, func(ctx context.Context) ([]string, error) { return chaos.Run(ctx, o) })
}
