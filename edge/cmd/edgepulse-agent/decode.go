package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
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
	fs := flag.NewFlagSet("edgepulse-agent decode", flag.ContinueOnError)
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
	if b, ok := out.(*codec.Batch); ok {
		v := jsonView(b)
		if codec.IsFrame(p) {
			if f, err := codec.ParseFrame(p); err == nil {
				v.FrameVersion = f.Version
			}
		}
		out = v
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

// jf is a float64 that JSON can always carry: NaN (a value not sent, like
// a window's first value by default) as null, ±Inf as "+Inf"/"-Inf".
type jf float64

func (f jf) MarshalJSON() ([]byte, error) {
	switch v := float64(f); {
	case math.IsNaN(v):
		return []byte("null"), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return json.Marshal(float64(f))
}

func jfs(v []float64) []jf {
	if v == nil {
		return nil
	}
	out := make([]jf, len(v))
	for i, x := range v {
		out[i] = jf(x)
	}
	return out
}

type rollupJSON struct {
	ID                         uint32
	Count                      uint32
	Sum, Min, Max, First, Last jf
	Quantiles                  []jf
}

type eventJSON struct {
	Kind         codec.EventKind
	Incident     uint64
	Series       string
	Labels       []string
	TS           int64
	Score, Value jf
	Reason       string
	Start, Step  int64
	Context      []jf
}

type batchJSON struct {
	// FrameVersion is the wire frame's schema version (codec.FrameVersion)
	// when the input was a frame; Version is the batch's own (codec's
	// msgp Batch, the spool's format), a separate number.
	FrameVersion      uint16 `json:",omitempty"`
	Version           uint16
	Agent, Site, Host string
	Seq               uint64
	Start, Width      int64
	Series            []codec.Series
	Rollups           []rollupJSON
	Late              uint32
	Events            []eventJSON
}

// jsonView is b with floats JSON can carry.
func jsonView(b *codec.Batch) batchJSON {
	v := batchJSON{Version: b.Version, Agent: b.Agent, Site: b.Site, Host: b.Host, Seq: b.Seq, Start: b.Start, Width: b.Width,
		Series: b.Series, Late: b.Late}
	for _, r := range b.Rollups {
		v.Rollups = append(v.Rollups, rollupJSON{r.ID, r.Count, jf(r.Sum), jf(r.Min), jf(r.Max), jf(r.First), jf(r.Last), jfs(r.Quantiles)})
	}
	for _, e := range b.Events {
		v.Events = append(v.Events, eventJSON{e.Kind, e.Incident, e.Series, e.Labels, e.TS, jf(e.Score), jf(e.Value), e.Reason, e.Start, e.Step, jfs(e.Context)})
	}
	return v
}
