package rollup

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// testValues returns n lognormal values around 50, a stand-in for a
// minute of one-second samples of a busy gauge.
func testValues(n int) []float64 {
	r := rand.New(rand.NewPCG(3, 4))
	v := make([]float64, n)
	for i := range v {
		v[i] = 50 * math.Exp(r.NormFloat64())
	}
	return v
}

func benchmarkAdd(b *testing.B, cfg *SketchConfig) {
	vals := testValues(60)
	st := cfg.NewState()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % 60
		if j == 0 {
			st.Reset() // a new window
		}
		st.Add(int64(j)*1000, vals[j])
	}
}

// BenchmarkAdd is one sample into a window State with a 1 % sketch.
func BenchmarkAdd(b *testing.B) {
	cfg, err := NewSketchConfig(0.01)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkAdd(b, cfg)
}

// BenchmarkAddNoSketch is the baseline: the same without sketch.
func BenchmarkAddNoSketch(b *testing.B) { benchmarkAdd(b, nil) }

// BenchmarkQuantiles is p50, p90 and p99 of a 60-sample State.
func BenchmarkQuantiles(b *testing.B) {
	cfg, _ := NewSketchConfig(0.01)
	st := cfg.NewState()
	for i, v := range testValues(60) {
		st.Add(int64(i), v)
	}
	b.ReportAllocs()
	for b.Loop() {
		st.Quantiles()
	}
}

// sketchBytes is the heap retained by one 60-sample State with its sketch
// (the State struct included), averaged over many.
func sketchBytes(cfg *SketchConfig) float64 {
	const n = 2000
	vals := testValues(60)
	keep := make([]*State, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		st := cfg.NewState()
		for j, v := range vals {
			st.Add(int64(j), v*float64(i%7+1))
		}
		keep[i] = st
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(after.HeapAlloc-before.HeapAlloc) / n
}

// BenchmarkCycle is one window of a 500-series host (half gauges, half
// counters): 500 × 60 samples, then Close and Recycle. It reports ns per
// sample and the bytes of one State with its sketch after 60 samples.
func BenchmarkCycle(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"sketch", DefaultOptions()},
		{"nosketch", Options{NoSketch: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := New(bc.opts, halfCounters)
			if err != nil {
				b.Fatal(err)
			}
			const series = 500
			vals := testValues(60)
			start := int64(1_800_000_000_000)
			cycle(w, series, start, vals) // first window: allocate states and sketches
			start += 60_000
			b.ReportAllocs()
			for b.Loop() {
				cycle(w, series, start, vals)
				start += 60_000
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(series*60), "ns/sample")
			b.ReportMetric(sketchBytes(w.Sketch()), "B/state")
		})
	}
}
