// Command edgepulse-dashboard runs the Node Exporter Full check
// (testbench/dashboard) and prints its table and RESULT line.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/edgepulse/edgepulse/testbench/dashboard"
)

func main() {
	dir := flag.String("dir", "", "working directory (default: a new temporary one)")
	warmup := flag.Duration("warmup", 3*time.Minute, "how long both systems collect before the queries")
	window := flag.Duration("window", 10*time.Second, "agent window and Prometheus scrape interval")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "edgepulse-dashboard-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		*dir = d
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	fmt.Fprintln(os.Stderr, "edgepulse-dashboard: working in", *dir)
	r, err := dashboard.Run(ctx, dashboard.Options{Dir: *dir, Warmup: *warmup, Window: *window, Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgepulse-dashboard:", err)
		os.Exit(1)
	}
	r.Print(os.Stdout)
}
