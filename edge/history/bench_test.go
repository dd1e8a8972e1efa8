package history

import (
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/edge/queue"
)

func benchNamer(id uint32) (string, []string, bool) {
	return "node_bench_" + strconv.Itoa(int(id%50)), []string{"device", "dev" + strconv.Itoa(int(id/50))}, true
}

// BenchmarkAppend is the rollup loop's hot-path cost: one Append per
// popped batch of 450 samples (one cycle of a typical host), reported per
// sample. The once-a-minute Flush is BenchmarkFlush.
func BenchmarkAppend(b *testing.B) {
	db := openDB(b, b.TempDir())
	defer db.Close()
	h, err := New(db, Options{}, benchNamer, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	const series = 450
	batch := make([]queue.Sample, series)
	ts := time.Now().Add(time.Hour).UnixMilli()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%60 == 0 { // what Flush does to the buffers once a minute, without the writes
			for _, sb := range h.bufs {
				if sb != nil {
					sb.ts, sb.vs = sb.ts[:0], sb.vs[:0]
				}
			}
		}
		i++
		ts += 1000
		for j := range batch {
			batch[j] = queue.Sample{Series: uint32(j), TS: ts, Value: float64(j * i)}
		}
		h.Append(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*series), "ns/sample")
}

// synth returns a value generator for one series class; classes mirror a
// node's series: constant (most of them), counters stepping by random
// amounts, integer gauges and float gauges with two decimals.
func synth(class int, r *rand.Rand) func(i int) float64 {
	switch class {
	case 0:
		return func(int) float64 { return 8_000_000_000 }
	case 1:
		c := float64(r.Int64N(1 << 40))
		return func(int) float64 { c += float64(r.Int64N(100_000)); return c }
	case 2:
		return func(int) float64 { return float64(300 + r.IntN(40)) }
	default:
		return func(i int) float64 { return math.Round((1+math.Sin(float64(i)/300))*100+r.Float64()) / 100 }
	}
}

// BenchmarkFlush writes one minute of 450 series (60 samples each) to
// Badger and reports the stored bytes per series-hour by class mix: the
// history's own count (keys plus values) and, after closing Badger, the
// directory's size on disk.
func BenchmarkFlush(b *testing.B) {
	for _, mix := range []struct {
		name    string
		classes []int // class of series i is classes[i%len]
	}{
		{"constant", []int{0}},
		{"counters", []int{1}},
		{"float-gauges", []int{3}},
		{"node-mix", []int{0, 0, 0, 0, 0, 1, 1, 2, 3, 0}}, // ~60 % constant, 20 % counters
	} {
		b.Run(mix.name, func(b *testing.B) {
			dir := b.TempDir()
			db := openDB(b, dir)
			h, err := New(db, Options{MaxBytes: 1 << 40}, benchNamer, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			const series = 450
			r := rand.New(rand.NewPCG(1, 2))
			gens := make([]func(int) float64, series)
			for j := range gens {
				gens[j] = synth(mix.classes[j%len(mix.classes)], r)
			}
			start := time.Now().Truncate(time.Minute).Add(time.Minute)
			h.cutoff = start.UnixMilli()
			batch := make([]queue.Sample, series)
			minutes := 0
			b.ReportAllocs()
			for b.Loop() {
				m := start.Add(time.Duration(minutes) * time.Minute)
				b.StopTimer()
				for s := range 60 {
					ts := m.Add(time.Duration(s) * time.Second).UnixMilli()
					for j := range batch {
						batch[j] = queue.Sample{Series: uint32(j), TS: ts, Value: gens[j](minutes*60 + s)}
					}
					h.Append(batch)
				}
				b.StartTimer()
				if err := h.Flush(m.Add(time.Minute+3*time.Second), false); err != nil {
					b.Fatal(err)
				}
				minutes++
			}
			b.StopTimer()
			st := h.Stats()
			db.Close()
			var disk int64
			filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if fi, err := d.Info(); err == nil {
						disk += fi.Size()
					}
				}
				return nil
			})
			seriesHours := float64(series*minutes) / 60
			b.ReportMetric(float64(st.Bytes)/seriesHours, "B/series-hour")
			b.ReportMetric(float64(disk)/seriesHours, "disk-B/series-hour")
			b.ReportMetric(float64(st.Bytes)/float64(st.Samples), "B/sample")
		})
	}
}
