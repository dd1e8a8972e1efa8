package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

// TestWindowLogMatchesPublished runs the agent with a window log and an
// exact wire and checks that every logged window equals the batch it
// published (all but Seq, which the spool assigns after the log is
// written).
func TestWindowLogMatchesPublished(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	ns := startServer(t, -1, t.TempDir())
	defer ns.Shutdown()
	cfg := fixtureConfig(t, ns.ClientURL())
	cfg.WindowLog = filepath.Join(t.TempDir(), "windows.jsonl")
	cfg.Wire.Precision = 0 // exact wire: the published batches decode to the logged ones bit for bit
	cfg.Wire.First = true  // every statistic, first included
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	deadline := time.Now().Add(20 * time.Second)
	for a.Stats().Forward.Published < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 windows published: %+v", a.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done

	f, err := os.Open(cfg.WindowLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logged := map[int64]*codec.Batch{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		b := new(codec.Batch)
		if err := json.Unmarshal(sc.Bytes(), b); err != nil {
			t.Fatalf("window log line: %v", err)
		}
		if _, dup := logged[b.Start]; dup {
			t.Fatalf("window %d logged twice", b.Start)
		}
		logged[b.Start] = b
	}
	published := streamBatches(t, ns.ClientURL())
	if len(published) < 3 {
		t.Fatalf("stream holds %d batches, want ≥ 3", len(published))
	}
	for _, p := range published {
		l, ok := logged[p.Start]
		if !ok {
			t.Fatalf("published window %d (seq %d) is not in the window log (%d logged)", p.Start, p.Seq, len(logged))
		}
		if l.Seq != 0 {
			t.Errorf("window %d logged with seq %d, want 0", p.Start, l.Seq)
		}
		l.Seq = p.Seq
		if !reflect.DeepEqual(normalize(l), normalize(p)) {
			t.Errorf("window %d: logged batch differs from the published one\nlogged    %+v\npublished %+v", p.Start, l, p)
		}
	}
}

// normalize maps empty and nil slices to nil, which msgp and JSON decode
// differently.
func normalize(b *codec.Batch) *codec.Batch {
	c := *b
	if len(c.Events) == 0 {
		c.Events = nil
	}
	c.Series = append([]codec.Series(nil), b.Series...)
	for i := range c.Series {
		if len(c.Series[i].Labels) == 0 {
			c.Series[i].Labels = nil
		}
	}
	c.Rollups = append([]codec.Rollup(nil), b.Rollups...)
	for i := range c.Rollups {
		if len(c.Rollups[i].Quantiles) == 0 {
			c.Rollups[i].Quantiles = nil
		}
	}
	return &c
}
