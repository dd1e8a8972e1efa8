// Command gendict writes codec's zstd dictionary (codec/zdict.bin): the
// raw body of a keyframe of one collection over the fixture /proc tree
// (edge/collect/testdata/proc), with every collector the agent runs by
// default. The dictionary lets a keyframe's names and labels compress
// against names every agent sends; regenerate it by hand (go run
// ./testbench/gendict)
// when the collectors change what they name, and bump codec's dictionary
// id when you do, so old and new builds never read each other's frames
// with the wrong dictionary.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/agent"
	"github.com/edgepulse/edgepulse/edge/collect"
)

func main() {
	proc := flag.String("procfs", "edge/collect/testdata/proc", "procfs tree to name series from")
	out := flag.String("o", "codec/zdict.bin", "where to write the dictionary")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	set, err := collect.DefaultWith(log, *proc, agent.DefaultCollectOptions())
	if err != nil {
		fail(err)
	}
	reg := collect.NewRegistry(100_000)
	e := collect.NewEmitter(reg)
	e.Reset(60_000)
	set.Collect(e)
	b := &codec.Batch{Agent: "site/host", Site: "site", Host: "host", Seq: 1, Start: 60_000, Width: 60_000}
	last := map[uint32]float64{}
	for _, s := range e.Samples() {
		last[s.Series] = s.Value
	}
	ids := make([]uint32, 0, len(last))
	for id := range last {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		d := reg.Desc(id)
		b.Series = append(b.Series, codec.Series{ID: id, Name: d.Name, Kind: d.Kind, Labels: d.Labels})
		v := last[id]
		b.Rollups = append(b.Rollups, codec.Rollup{ID: id, Count: 60, Sum: 60 * v, Min: v, Max: v, First: v, Last: v})
	}
	body, err := codec.KeyframeBody(b)
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, body, 0o644); err != nil {
		fail(err)
	}
	fmt.Printf("gendict: %d series, %d bytes -> %s\n", len(ids), len(body), *out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gendict:", err)
	os.Exit(1)
}
