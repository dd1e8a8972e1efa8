package agent

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/collect"
	"github.com/edgepulse/edgepulse/edge/history"
	"github.com/edgepulse/edgepulse/edge/queue"
	"github.com/edgepulse/edgepulse/edge/rollup"
	"github.com/edgepulse/edgepulse/edge/spool"
)

// BenchmarkCycle is one full steady collection cycle of the agent: collect
// every source, push the samples through the queue, pop them, run the
// detectors and fold them into the rollup windows — everything the agent
// does each second except shipping a closed window (once a minute).
//
// The history=on variants add the raw history (package history): every
// popped batch is appended to it and its minute blocks are written to a
// real Badger once per simulated minute, as the agent's rollup loop does.
func BenchmarkCycle(b *testing.B) {
	fixture, _ := filepath.Abs("../collect/testdata/proc")
	for _, bc := range []struct {
		name, path string
		hist       bool
	}{{"fixture/history=off", fixture, false}, {"fixture/history=on", fixture, true},
		{"proc/history=off", "/proc", false}, {"proc/history=on", "/proc", true}} {
		root := bc
		b.Run(root.name, func(b *testing.B) {
			set, err := collect.DefaultWith(slog.New(slog.DiscardHandler), root.path, DefaultCollectOptions())
			if err != nil {
				b.Fatal(err)
			}
			reg := collect.NewRegistry(0)
			e := collect.NewEmitter(reg)
			q, _ := queue.New(16384)
			defer q.Close()
			det, err := NewDetector(DetectConfig{}, reg, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			win, err := rollup.New(rollup.Options{Width: time.Hour, Lateness: time.Second}, func(id uint32) codec.Kind { return reg.Desc(id).Kind })
			if err != nil {
				b.Fatal(err)
			}
			var hist *history.History
			if root.hist {
				sp, err := spool.Open(spool.Options{Dir: b.TempDir()}, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				defer sp.Close()
				namer := func(id uint32) (string, []string, bool) {
					d := reg.Desc(id)
					if d == nil {
						return "", nil, false
					}
					return d.Name, d.Labels, true
				}
				if hist, err = history.New(sp.DB(), history.Options{}, namer, slog.New(slog.DiscardHandler)); err != nil {
					b.Fatal(err)
				}
			}
			buf := make([]queue.Sample, 4096)
			ts := time.Now().Truncate(time.Hour).Add(time.Hour).UnixMilli() // ahead of the history's cutoff
			cycle := func() int {
				ts += 1000
				e.Reset(ts)
				set.Collect(e)
				q.PushBatch(e.Samples())
				n := q.PopBatch(buf)
				if hist != nil {
					hist.Append(buf[:n])
					if err := hist.Flush(time.UnixMilli(ts), false); err != nil {
						b.Fatal(err)
					}
				}
				for _, s := range buf[:n] {
					det.Observe(s.Series, s.TS, s.Value)
					win.Add(s.Series, s.TS, s.Value)
				}
				det.EndCycle()
				det.TakeEvents()
				return n
			}
			// Warm up: intern every series and let detectors size their state.
			var n int
			for range 100 {
				n = cycle()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				cycle()
			}
			b.ReportMetric(float64(n), "series")
			if hist != nil {
				st := hist.Stats()
				if st.Samples == 0 || st.Late > 0 {
					b.Fatalf("history wrote nothing or refused samples: %+v", st)
				}
			}
		})
	}
}
