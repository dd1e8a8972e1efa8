package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgepulse/edgepulse/codec"
)

// cmdDecode reads one frame (as published) or one spooled batch on stdin
// and prints it as JSON, for
// `nats sub 'tele.>' --translate 'edgepulse-agent decode'`.
//
// A delta frame only decodes on top of the frame before it, so decode
// keeps each agent's decoder state in a cache directory between runs:
// once it has seen a keyframe of an agent (every agent's first frame after
// it starts, and one an hour by default) it decodes that agent's deltas
// too. A delta without its base prints its header and what it waits for.
func cmdDecode(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cache, _ := os.UserCacheDir()
	if cache == "" {
		cache = os.TempDir()
	}
	stateDir := fs.String("state-dir", filepath.Join(cache, "edgepulse", "decode"), "where decoder state is kept between runs (\"\" for none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "edgepulse-agent decode: takes no arguments; reads a frame or batch on stdin")
		return 2
	}
	p, err := io.ReadAll(io.LimitReader(stdin, codec.MaxBatchBytes+1))
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent decode: reading stdin:", err)
		return 1
	}
	var out any
	if codec.IsFrame(p) {
		out, err = decodeFrame(p, *stateDir)
	} else {
		out, err = codec.Decode(p)
	}
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent decode:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent decode:", err)
		return 1
	}
	return 0
}

// pendingFrame is what decode prints for a delta frame it cannot unpack.
type pendingFrame struct {
	Agent, Site, Host string
	Seq, Base         uint64
	Start, Width      int64
	Bytes             int
	Note              string
}

func decodeFrame(p []byte, stateDir string) (any, error) {
	f, err := codec.ParseFrame(p)
	if err != nil {
		return nil, err
	}
	dec := codec.NewDecoder()
	path := ""
	if stateDir != "" {
		path = filepath.Join(stateDir, strings.ReplaceAll(f.Agent, "/", "_")+".state")
		if s, err := os.ReadFile(path); err == nil {
			dec.UnmarshalState(s) // a stale or broken cache only means "wait for a keyframe"
		}
	}
	b, err := dec.Apply(f)
	if errors.Is(err, codec.ErrBaseMissing) {
		return pendingFrame{Agent: f.Agent, Site: f.Site, Host: f.Host, Seq: f.Seq, Base: f.Base, Start: f.Start, Width: f.Width, Bytes: len(p),
			Note: fmt.Sprintf("delta frame packed against seq %d, which this decoder has not seen; values show from the agent's next keyframe on (ask for one: nats req %s '')",
				f.Base, codec.AgentSubject(f.Site, f.Host, codec.EndpointKeyframe))}, nil
	}
	if err != nil {
		return nil, err
	}
	if path != "" {
		if err := os.MkdirAll(stateDir, 0o700); err == nil {
			os.WriteFile(path, dec.MarshalState(nil), 0o600)
		}
	}
	return b, nil
}
