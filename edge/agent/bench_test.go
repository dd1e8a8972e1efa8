package agent

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/collect"
	"github.com/edgepulse/edgepulse/edge/queue"
	"github.com/edgepulse/edgepulse/edge/rollup"
)

// BenchmarkCycle is one full steady collection cycle of the agent: collect
// every source, push the samples through the queue, pop them, run the
// detectors and fold them into the rollup windows — everything the agent
// does each second except shipping a closed window (once a minute).
func BenchmarkCycle(b *testing.B) {
	fixture, _ := filepath.Abs("../collect/testdata/proc")
	for _, root := range []struct{ name, path string }{{"fixture", fixture}, {"proc", "/proc"}} {
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
			buf := make([]queue.Sample, 4096)
			ts := time.Now().Truncate(time.Hour).UnixMilli()
			cycle := func() int {
				ts += 1000
				e.Reset(ts)
				set.Collect(e)
				q.PushBatch(e.Samples())
				n := q.PopBatch(buf)
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
		})
	}
}
