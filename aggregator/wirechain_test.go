package aggregator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestWireChainHandoff: an agent's frames are saved as a frame chain
// after its decoder state (the whole state every wireChain frames); a
// member that has none of the agent's states (a handoff, a restart)
// loads state and chain from Redis and decodes the agent's next delta
// frame, at every point of the chain.
func TestWireChainHandoff(t *testing.T) {
	ctx := context.Background()
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	st, err := store.Open(ctx, store.Options{Addr: r.Addr, Prefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-2*time.Hour).UnixMilli() / 60_000 * 60_000
	frame := func(seq uint64) *codec.Frame {
		b := &codec.Batch{Version: codec.Version, Agent: "s1/h1", Site: "s1", Host: "h1", Seq: seq, Start: start + int64(seq)*60_000, Width: 60_000}
		for i := range 20 {
			v := float64(i) + float64(seq%5)
			b.Series = append(b.Series, codec.Series{ID: uint32(i + 1), Name: fmt.Sprintf("node_m%d", i)})
			b.Rollups = append(b.Rollups, codec.Rollup{ID: uint32(i + 1), Count: 60, Sum: 60 * v, Min: v, Max: v, First: v, Last: v})
		}
		p, err := enc.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		f, err := codec.ParseFrame(p)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	d := newDecoders()
	states, chained := 0, 0
	for seq := uint64(1); seq <= 2*wireChain+5; seq++ {
		f := frame(seq)
		if seq > 1 && f.Base != seq-1 {
			t.Fatalf("frame %d is packed against %d, want a delta on %d", seq, f.Base, seq-1)
		}
		// A fresh member takes the agent over before this frame.
		fresh := newDecoders()
		b, err := fresh.decode(ctx, st, f)
		if err != nil {
			t.Fatalf("frame %d on the saved state and chain: %v", seq, err)
		}
		if len(b.Rollups) != 20 {
			t.Fatalf("frame %d: %d rollups", seq, len(b.Rollups))
		}
		// This member applies it and saves.
		if _, err := d.decode(ctx, st, f); err != nil {
			t.Fatalf("frame %d: %v", seq, err)
		}
		w := st.NewWrite()
		if err := w.Add(ctx, b); err != nil {
			t.Fatal(err)
		}
		w.MarkApplied(ctx, f.Agent, f.Seq)
		d.saveStates(ctx, w, []string{f.Agent})
		if d.agent(f.Agent).saveChain < 0 {
			states++
		} else {
			chained++
		}
		if err := w.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		d.commit([]string{f.Agent})
	}
	// The first frame and one every wireChain+1 save a whole state.
	if want := 3; states != want || chained != 2*wireChain+5-want {
		t.Fatalf("%d whole states and %d chained frames, want %d and %d", states, chained, want, 2*wireChain+5-want)
	}
}
