// Command gendict writes codec's trained data.
//
// By default it writes the zstd dictionary (codec/zdict.bin): the
// raw body of a keyframe of one collection over the fixture /proc tree
// (edge/collect/testdata/proc), with every collector the agent runs by
// default. The dictionary lets a keyframe's names and labels compress
// against names every agent sends; regenerate it by hand (go run
// ./testbench/gendict)
// when the collectors change what they name, and bump codec's dictionary
// id when you do, so old and new builds never read each other's frames
// with the wrong dictionary.
//
// With -prior DIR it writes the context model's prior (codec/wireprior.bin)
// instead: the probabilities counted over the frames of every agent's
// window log in DIR, a `make backhaul BACKHAUL_FLAGS='-dir DIR'` working
// directory (agents/*/windows.jsonl). Bump codec's prior id when you
// replace it, like the dictionary's.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/agent"
	"github.com/edgepulse/edgepulse/edge/collect"
	"github.com/edgepulse/edgepulse/testbench/backhaul"
)

func main() {
	proc := flag.String("procfs", "edge/collect/testdata/proc", "procfs tree to name series from")
	out := flag.String("o", "", "where to write (default codec/zdict.bin, or codec/wireprior.bin with -prior)")
	prior := flag.String("prior", "", "train the context model's prior on the window logs of this make backhaul directory")
	flag.Parse()
	if *prior != "" {
		if *out == "" {
			*out = "codec/wireprior.bin"
		}
		if err := writePrior(*prior, *out); err != nil {
			fail(err)
		}
		return
	}
	if *out == "" {
		*out = "codec/zdict.bin"
	}
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

// writePrior trains codec's prior on the window logs under dir.
func writePrior(dir, out string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "agents", "*", "windows.jsonl"))
	if err != nil || len(paths) == 0 {
		return fmt.Errorf("no window logs under %s/agents/*/windows.jsonl (err %v)", dir, err)
	}
	slices.Sort(paths)
	var agents [][]*codec.Batch
	for _, p := range paths {
		bs, _, err := backhaul.ReadWindowLog(p)
		if err != nil {
			return err
		}
		for i, b := range bs {
			b.Seq = uint64(i + 1) // the log is written before the spool numbers the batch
		}
		agents = append(agents, bs)
	}
	o := codec.DefaultWireOptions()
	o.Keyframe = 0
	p, n, err := codec.TrainWirePrior(agents, o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, p, 0o644); err != nil {
		return err
	}
	fmt.Printf("gendict: prior from %d agents' window logs, %d decisions counted, %d bytes -> %s\n", len(agents), n, len(p), out)
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gendict:", err)
	os.Exit(1)
}
