package codec

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Realistic chunk input: node-exporter-like series rolled up into 60 s
// windows and sent through the real wire path (DefaultWireOptions), so
// the windows hold exactly what the aggregator's decoder gives it.

// seriesClass is one kind of series the generator makes.
type seriesClass struct {
	name    string
	counter bool
	// sample returns the window's 60 one-second samples (gauge values, or
	// a counter's per-second increments) for window w of series s.
	sample func(rng *rand.Rand, s, w int, out []float64)
}

// chunkClasses and how many series of each the mix holds (a host: many
// idle counters and constants, a few busy ones and gauges).
func chunkClasses() []struct {
	c seriesClass
	n int
} {
	type cn = struct {
		c seriesClass
		n int
	}
	return []cn{
		{seriesClass{"smooth gauge", false, func(rng *rand.Rand, s, w int, out []float64) {
			for i := range out { // a load average: slow wave, small noise
				t := float64(w*60+i) / 600
				out[i] = math.Round((1.5+float64(s)*0.3+math.Sin(t+float64(s)))*100+rng.NormFloat64()) / 100
			}
		}}, 4},
		{seriesClass{"noisy gauge", false, func(rng *rand.Rand, s, w int, out []float64) {
			lvl := 20 + 60*rng.Float64() // CPU busy %
			for i := range out {
				out[i] = math.Max(0, lvl+rng.NormFloat64()*15)
			}
		}}, 4},
		{seriesClass{"spiky gauge", false, func(rng *rand.Rand, s, w int, out []float64) {
			for i := range out { // memory in use with allocation spikes
				out[i] = 2.1e9 + float64(s)*1e8 + float64(rng.IntN(64))*4096
				if rng.IntN(200) == 0 {
					out[i] += 5e8 * rng.Float64()
				}
			}
		}}, 2},
		{seriesClass{"constant gauge", false, func(rng *rand.Rand, s, w int, out []float64) {
			for i := range out { // MemTotal, cpu count, filesystem size
				out[i] = []float64{16777216000, 8, 502.5e9}[s%3]
			}
		}}, 6},
		{seriesClass{"idle counter", true, func(rng *rand.Rand, s, w int, out []float64) {
			clear(out) // errors, drops: a rare increment
			if rng.IntN(40) == 0 {
				out[rng.IntN(len(out))] = float64(1 + rng.IntN(3))
			}
		}}, 8},
		{seriesClass{"busy counter", true, func(rng *rand.Rand, s, w int, out []float64) {
			base := []float64{1.25e6, 3e4, 0.31}[s%3] // bytes, packets, cpu seconds
			for i := range out {
				v := base * (0.6 + 0.8*rng.Float64())
				if s%3 == 2 {
					out[i] = math.Round(v*100) / 100 // cpu seconds, 10 ms ticks
				} else {
					out[i] = math.Round(v)
				}
			}
		}}, 6},
	}
}

// genSeries is one generated series: its class and its windows.
type genSeries struct {
	class string
	ws    []Window
}

// genChunkData makes hours of 60 windows for every series of the mix,
// through the wire encoder and decoder.
func genChunkData(tb testing.TB, hours int, seed uint64) []genSeries {
	rng := rand.New(rand.NewPCG(seed, 2))
	var out []genSeries
	var classes []seriesClass
	var sidx []int
	var raw []float64
	for _, cn := range chunkClasses() {
		for s := range cn.n {
			out = append(out, genSeries{class: cn.c.name})
			classes = append(classes, cn.c)
			sidx = append(sidx, s)
			raw = append(raw, float64(rng.IntN(1<<30)))
		}
	}
	enc, err := NewEncoder(DefaultWireOptions())
	if err != nil {
		tb.Fatal(err)
	}
	dec := NewDecoder()
	const width = 60_000
	start := int64(1_767_225_600_000) // 2026-01-01T00:00Z
	samples := make([]float64, 60)
	sorted := make([]float64, 60)
	for w := range hours * 60 {
		b := &Batch{Agent: "s1/h1", Site: "s1", Host: "h1", Seq: uint64(w + 1), Start: start + int64(w)*width, Width: width}
		for id, c := range classes {
			c.sample(rng, sidx[id], w, samples)
			kind := Gauge
			if c.counter {
				kind = Counter
				for i := range samples {
					raw[id] += samples[i]
				}
			}
			r := Rollup{ID: uint32(id), Count: 60, First: samples[0], Last: samples[59], Min: samples[0], Max: samples[0]}
			for _, v := range samples {
				r.Sum += v
				r.Min, r.Max = math.Min(r.Min, v), math.Max(r.Max, v)
			}
			if c.counter {
				r.Last = raw[id]
			} else {
				copy(sorted, samples)
				slices.Sort(sorted)
				r.Quantiles = []float64{sorted[29], sorted[53], sorted[59]}
			}
			b.Series = append(b.Series, Series{ID: uint32(id), Name: c.name, Kind: kind})
			b.Rollups = append(b.Rollups, r)
		}
		p, err := enc.Encode(nil, b)
		if err != nil {
			tb.Fatal(err)
		}
		got, err := dec.Decode(p)
		if err != nil {
			tb.Fatal(err)
		}
		for i, r := range got.Rollups {
			out[i].ws = append(out[i].ws, windowOf(got, &r))
		}
	}
	return out
}

// windowOf is the stored window of a decoded rollup, as the aggregator
// makes it.
func windowOf(b *Batch, r *Rollup) Window {
	w := Window{End: b.Start + b.Width, Width: b.Width, Count: r.Count, Sum: r.Sum, Min: r.Min, Max: r.Max,
		First: r.First, Last: r.Last}
	if len(r.Quantiles) == 3 {
		w.P50, w.P90, w.P99, w.HasQuantiles = r.Quantiles[0], r.Quantiles[1], r.Quantiles[2], true
	}
	return w
}
