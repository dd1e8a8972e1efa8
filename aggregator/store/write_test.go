package store

import (
	"bufio"
	"context"
	"strings"
	"testing"
)

// TestWriteStateOnlyAfterData: when a command of the data pipeline fails
// (here a data key of the wrong type), Exec fails and neither the applied
// seq nor the decoder state is written, so a redelivery applies the frame
// again instead of taking it for a duplicate.
func TestWriteStateOnlyAfterData(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	if err := s.Apply(ctx, batch(1, 1_700_000_040_000, 1.5)); err != nil {
		t.Fatal(err)
	}
	b := batch(2, 1_700_000_100_000, 2.5) // the same hour: no compaction read
	sid := SeriesID(Canon("node_load1", SeriesLabels(b, &b.Series[0])))
	if err := s.rdb.Set(ctx, "t:d:"+sid, "not a zset", 0).Err(); err != nil {
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
	if p, done, err := s.WireStateFor(ctx, b.Agent, b.Seq); err != nil || p != nil || done {
		t.Fatalf("after a failed write: state %q, applied %v, err %v; want neither", p, done, err)
	}

	// The same write once the key is fixed records both.
	s.rdb.Del(ctx, "t:d:"+sid)
	w = s.NewWrite()
	if err := w.Add(ctx, b); err != nil {
		t.Fatal(err)
	}
	w.MarkApplied(ctx, b.Agent, b.Seq)
	w.SetWireState(ctx, b.Agent, []byte("state"))
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if p, done, err := s.WireStateFor(ctx, b.Agent, b.Seq); err != nil || string(p) != "state" || !done {
		t.Fatalf("after the write: state %q, applied %v, err %v", p, done, err)
	}
	if _, done, _ := s.WireStateFor(ctx, b.Agent, b.Seq+1); done {
		t.Fatal("seq 2 recorded as applied")
	}
}

// FuzzReadReply feeds arbitrary bytes to the reply reader of the write
// path: it returns an error or nil, never panics or loops.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", ":1\r\n", "-ERR x\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*2\r\n:1\r\n-WRONGTYPE y\r\n", "*-1\r\n", "*1\r\n*1\r\n*1\r\n:0\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		r := bufio.NewReader(strings.NewReader(string(p)))
		for range 16 {
			if err := readReply(r, 0); err != nil {
				if _, ok := err.(errReply); !ok {
					return // malformed or truncated: the connection is dropped
				}
			}
		}
	})
}
