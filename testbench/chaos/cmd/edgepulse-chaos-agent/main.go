// Command edgepulse-chaos-agent runs the agent scenarios of issue 18
// (package testbench/chaos): the agent's disk full on a small tmpfs with
// the uplink cut (needs root to mount it), the same disk filled by another
// program (dd) behind the agent's checks, and each spool damage. One
// RESULT line each.
//
//	edgepulse-chaos-agent [-dir DIR] [-disk-mib 12] [-filler-disk-mib 24] [-full 30s]
//	  [-scenarios disk_full,disk_filled_by_other,spool_damage] [-damages truncated_sst,garbage_sst,...]
package main

import (
	"context"
	"flag"
	"strings"

	"github.com/edgepulse/edgepulse/testbench/chaos"
)

func main() {
	var o chaos.AgentOptions
	mib := flag.Int64("disk-mib", 12, "size of the agent's tmpfs data directory in the disk-full scenario")
	damages := flag.String("damages", "", "comma-separated spool damages (default all: truncated_sst, garbage_sst, garbage_mem_after_kill9, truncated_manifest)")
	flag.StringVar(&o.Dir, "dir", "", "working directory (default: a new temporary one)")
	flag.DurationVar(&o.Full, "full", 0, "how long the disk stays full, across an agent restart (default 30s)")
	fillerMiB := flag.Int64("filler-disk-mib", 24, "size of the agent's tmpfs in the scenario where another program (dd) fills the disk")
	scenarios := flag.String("scenarios", "", "comma-separated: disk_full, disk_filled_by_other, spool_damage (default all)")
	flag.Parse()
	o.DiskSize = *mib << 20
	o.FillerDiskSize = *fillerMiB << 20
	if *scenarios != "" {
		o.Scenarios = strings.Split(*scenarios, ",")
	}
	if *damages != "" {
		o.Damages = strings.Split(*damages, ",")
	}
	chaos.Command("edgepulse-chaos-agent", &o.Dir, func(ctx context.Context) ([]string, error) { return chaos.RunAgent(ctx, o) })
}
