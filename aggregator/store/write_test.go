package store

import (
	"context"
	"strings"
	"testing"
)

// TestWriteStateOnlyAfterData: when a frame's script fails (here the
// open log's key of the wrong type), Exec fails and neither the applied seq nor the
// decoder state is written, so a redelivery applies the frame again
// instead of taking it for a duplicate.
func TestWriteStateOnlyAfterData(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.Apply(ctx, batch(1, t0+40_000, 1.5)); err != nil {
		t.Fatal(err)
	}
	b := batch(2, t0+100_000, 2.5) // the same hour: no seal
	key := s.logKey(tag("s1/h1"), t0)
	if err := s.rdb.Del(ctx, key).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.HSet(ctx, key, "not", "a string").Err(); err != nil {
		t.Fatal(err)
	}
	w := s.NewWrite()
	if err := w.Add(ctx, b); err != nil {
		t.Fatal(err)
	}
	w.MarkApplied(ctx, b.Agent, b.Seq)
	w.SetWireState(ctx, b.Agent, []byte("state"))
	err := w.Exec(ctx)
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Exec = %v, want a WRONGTYPE error", err)
	}
	if p, _, done, err := s.WireStateFor(ctx, b.Agent, b.Seq); err != nil || p != nil || done {
		t.Fatalf("after a failed write: state %q, applied %v, err %v; want neither", p, done, err)
	}

	// The same write once the key is fixed records both.
	s.rdb.Del(ctx, key)
	w = s.NewWrite()
	if err := w.Add(ctx, b); err != nil {
		t.Fatal(err)
	}
	w.MarkApplied(ctx, b.Agent, b.Seq)
	w.SetWireState(ctx, b.Agent, []byte("state"))
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _, done, err := s.WireStateFor(ctx, b.Agent, b.Seq); err != nil || string(p) != "state" || !done {
		t.Fatalf("after the write: state %q, applied %v, err %v", p, done, err)
	}
	if _, _, done, _ := s.WireStateFor(ctx, b.Agent, b.Seq+1); done {
		t.Fatal("seq 3 recorded as applied")
	}
}

// TestLegacyWireState: an aggregator upgraded from the layout without
// hash tags continues an agent's chain from its untagged state.
func TestLegacyWireState(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	s.rdb.Set(ctx, "t:w:s1/h9", "old state", 0)
	s.rdb.ZAdd(ctx, "t:ws:s1/h9", redisZ(41))
	p, _, done, err := s.WireStateFor(ctx, "s1/h9", 41)
	if err != nil || string(p) != "old state" || !done {
		t.Fatalf("legacy state %q, applied %v, err %v", p, done, err)
	}
}
