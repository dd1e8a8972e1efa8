package codec

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// stream makes n consecutive batches of one host: gauges that drift and
// wobble, counters whose rates vary and whose raw values grow (with
// fractional and integral steps), a flat series, and churn: a series that
// disappears for a while and comes back, and one that first appears late.
func stream(n int, seed uint64) []*Batch {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]*Batch, n)
	cpu, ctx := 1234.56, 7.1e7
	for w := range n {
		b := &Batch{Agent: "s1/h1", Site: "s1", Host: "h1", Seq: uint64(1000 + w), Start: int64(w) * 60_000, Width: 60_000}
		add := func(id uint32, name string, kind Kind, r Rollup, labels ...string) {
			b.Series = append(b.Series, Series{ID: id, Name: name, Kind: kind, Labels: labels})
			r.ID = id
			b.Rollups = append(b.Rollups, r)
		}
		load := 0.5 + 0.4*math.Sin(float64(w)/5) + rng.Float64()*0.1
		add(0, "node_load1", Gauge, Rollup{Count: 60, Sum: load * 60, Min: load * 0.8, Max: load * 1.3, First: load * 0.9, Last: load,
			Quantiles: []float64{load, load * 1.2, load * 1.29}})
		mem := 8e9 + float64(w)*1e6 + rng.Float64()*1e5
		add(1, "node_memory_MemAvailable_bytes", Gauge, Rollup{Count: 60, Sum: mem * 60, Min: mem, Max: mem, First: mem, Last: mem,
			Quantiles: []float64{mem, mem, mem}})
		add(2, "node_memory_MemTotal_bytes", Gauge, Rollup{Count: 60, Sum: 16e9 * 60, Min: 16e9, Max: 16e9, First: 16e9, Last: 16e9,
			Quantiles: []float64{16e9, 16e9, 16e9}})
		rate := 0.3 + rng.Float64()*0.2
		cpu += rate * 60
		cpu = math.Round(cpu*100) / 100
		add(3, "node_cpu_seconds_total", Counter, Rollup{Count: 60, Sum: rate * 60, Min: rate / 2, Max: rate * 2, First: rate, Last: cpu,
			Quantiles: []float64{rate, rate * 1.5, rate * 1.9}}, "cpu", "0", "mode", "user")
		ctx += float64(rng.IntN(5000))
		add(4, "node_context_switches_total", Counter, Rollup{Count: 59, Sum: 4000, Min: 0, Max: 200, First: 50, Last: ctx}, "", "")
		if w%7 < 4 {
			add(5, "node_network_receive_bytes_total", Counter, Rollup{Count: 60, Sum: 0, Last: 1e12 + 0.5}, "device", "eth0")
		}
		if w >= 3 {
			add(9, "node_hwmon_temp_celsius", Gauge, Rollup{Count: 60, Sum: -2.5 * 60, Min: -3, Max: -2, First: -2.5, Last: -2.75})
		}
		if w == 5 {
			b.Events = []Event{{Kind: Open, Incident: 1, Series: "cpu_busy_percent", TS: 300_000, Score: 0.9, Value: 99, Start: 270_000, Step: 1000,
				Context: []float64{1, 2, 3, 99}}}
		}
		out[w] = b
	}
	return out
}

// within checks got against want: counts, and at p = 0 every field, bit
// for bit; the rest within relative precision p, and a counter's raw last
// value within p of its step since the previous window (prev, the true raw
// values of the previous window, which within updates), so rate() over
// decoded values is within p.
func within(t *testing.T, where string, want, got *Batch, p float64, prev map[uint32]float64) {
	t.Helper()
	if got.Agent != want.Agent || got.Site != want.Site || got.Host != want.Host || got.Seq != want.Seq ||
		got.Start != want.Start || got.Width != want.Width || got.Late != want.Late {
		t.Fatalf("%s: header %+v, want %+v", where, got, want)
	}
	if !reflect.DeepEqual(got.Series, want.Series) {
		t.Fatalf("%s: series\n got  %+v\n want %+v", where, got.Series, want.Series)
	}
	if len(got.Rollups) != len(want.Rollups) {
		t.Fatalf("%s: %d rollups, want %d", where, len(got.Rollups), len(want.Rollups))
	}
	near := func(field string, g, w float64) {
		if p == 0 {
			if math.Float64bits(g) != math.Float64bits(w) {
				t.Fatalf("%s: %s = %v, want exactly %v", where, field, g, w)
			}
			return
		}
		if d := math.Abs(g - w); d > p*(1+p)*math.Abs(w)+1e-300 {
			t.Fatalf("%s: %s = %v, want %v within %v (relative error %v)", where, field, g, w, p, d/math.Abs(w))
		}
	}
	if len(got.Events) != len(want.Events) {
		t.Fatalf("%s: %d events, want %d", where, len(got.Events), len(want.Events))
	}
	for i, w := range want.Events {
		g := got.Events[i]
		if g.Kind != w.Kind || g.Incident != w.Incident || g.Series != w.Series || !slices.Equal(g.Labels, w.Labels) ||
			g.TS != w.TS || g.Reason != w.Reason || g.Start != w.Start || g.Step != w.Step || len(g.Context) != len(w.Context) {
			t.Fatalf("%s: event %d %+v, want %+v", where, i, g, w)
		}
		near(fmt.Sprint("event score ", i), g.Score, w.Score)
		near(fmt.Sprint("event value ", i), g.Value, w.Value)
		for j := range w.Context {
			near(fmt.Sprintf("event %d context %d", i, j), g.Context[j], w.Context[j])
		}
	}
	for i, w := range want.Rollups {
		g := got.Rollups[i]
		f := fmt.Sprintf("series %d", w.ID)
		if g.ID != w.ID || g.Count != w.Count {
			t.Fatalf("%s: %s id/count %d/%d, want %d/%d", where, f, g.ID, g.Count, w.ID, w.Count)
		}
		near(f+" sum", g.Sum, w.Sum)
		near(f+" min", g.Min, w.Min)
		near(f+" max", g.Max, w.Max)
		if !math.IsNaN(g.First) { // NaN: not sent (WireOptions.First); TestWireFirst
			near(f+" first", g.First, w.First)
		}
		if want.Series[i].Kind == Counter {
			step, ok := prev[w.ID]
			step = math.Abs(w.Last - step)
			prev[w.ID] = w.Last
			if d := math.Abs(g.Last - w.Last); p == 0 || !ok {
				if d != 0 && (p == 0 || d > 1e-12*math.Abs(w.Last)) {
					t.Fatalf("%s: %s raw last %v, want exactly %v", where, f, g.Last, w.Last)
				}
			} else if d > p*(1+p)*step+1e-9*math.Abs(w.Last) {
				t.Fatalf("%s: %s raw last %v, want %v within %v of its step %v", where, f, g.Last, w.Last, p, step)
			}
		} else {
			// A gauge's level: within p of the step from the level the
			// decoder held (the true step plus that level's error), exact
			// when unchanged or on the first sight. prev[^id] keeps the
			// previous error.
			last, ok := prev[w.ID]
			prevErr := prev[^w.ID]
			d := math.Abs(g.Last - w.Last)
			prev[w.ID], prev[^w.ID] = w.Last, d
			switch {
			case p == 0 || !ok || math.Float64bits(last) == math.Float64bits(w.Last):
				if d != 0 {
					t.Fatalf("%s: %s last %v, want exactly %v", where, f, g.Last, w.Last)
				}
			case d > p*(1+p)*(math.Abs(w.Last-last)+prevErr)+1e-12*math.Abs(w.Last):
				t.Fatalf("%s: %s last %v, want %v within %v of its step %v (previous error %v)", where, f, g.Last, w.Last, p, w.Last-last, prevErr)
			}
		}
		if len(g.Quantiles) != len(w.Quantiles) {
			t.Fatalf("%s: %s has %d quantiles, want %d", where, f, len(g.Quantiles), len(w.Quantiles))
		}
		for j := range w.Quantiles {
			near(fmt.Sprintf("%s q%v", f, QuantileLevels[j]), g.Quantiles[j], w.Quantiles[j])
		}
	}
}

func TestWireRoundTrip(t *testing.T) {
	all := DefaultWireOptions()
	for _, tc := range []struct {
		name string
		o    WireOptions
	}{
		{"default", all},
		{"exact", WireOptions{Dictionary: true, Delta: true, Compress: true, Keyframe: 60, First: true}},
		{"no delta", WireOptions{Dictionary: true, Precision: 0.002}},
		{"no dictionary", WireOptions{Delta: true, Precision: 0.01}},
		{"raw body", WireOptions{Dictionary: true, Delta: true, Precision: 0.05}},
		{"keyframe every 3", WireOptions{Dictionary: true, Delta: true, Precision: 0.001, Compress: true, Keyframe: 3, First: true}},
		{"zstd, no model", WireOptions{Dictionary: true, Delta: true, Precision: 0.01, Compress: true, ZstdDict: true, Keyframe: 60}},
		{"model, exact", WireOptions{Dictionary: true, Delta: true, Model: true, First: true}},
		{"model, no zstd", WireOptions{Dictionary: true, Delta: true, Precision: 0.01, Model: true}},
		{"model, no dictionary, keyframe every 3", WireOptions{Delta: true, Precision: 0.003, Model: true, Compress: true, Keyframe: 3, First: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := NewEncoder(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			dec := NewDecoder()
			keys := 0
			prev := map[uint32]float64{}
			for i, b := range stream(30, 7) {
				p, err := enc.Encode(nil, b)
				if err != nil {
					t.Fatal(err)
				}
				f, err := ParseFrame(p)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Base == 0 {
					keys++
				} else if f.Base != b.Seq-1 {
					t.Fatalf("frame %d packed against %d, want the previous %d", i, f.Base, b.Seq-1)
				}
				got, err := dec.Decode(p)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				within(t, fmt.Sprintf("frame %d", i), b, got, tc.o.Precision, prev)
			}
			want := 1
			switch {
			case !tc.o.Delta:
				want = 30
			case tc.o.Keyframe > 0:
				want = (30 + tc.o.Keyframe - 1) / tc.o.Keyframe
			}
			if keys != want {
				t.Fatalf("%d keyframes, want %d", keys, want)
			}
		})
	}
}

// TestWireFirst: a window's first value travels only when asked for.
func TestWireFirst(t *testing.T) {
	for _, first := range []bool{false, true} {
		o := DefaultWireOptions()
		o.First = first
		enc, _ := NewEncoder(o)
		dec := NewDecoder()
		for i, b := range stream(5, 8) {
			p, err := enc.Encode(nil, b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dec.Decode(p)
			if err != nil {
				t.Fatal(err)
			}
			for j, r := range got.Rollups {
				if math.IsNaN(r.First) == first {
					t.Fatalf("first=%v, frame %d series %d: First = %v (want: %v)", first, i, r.ID, r.First, b.Rollups[j].First)
				}
			}
		}
	}
}

func TestWireDeltaIsSmall(t *testing.T) {
	enc, _ := NewEncoder(DefaultWireOptions())
	bs := stream(3, 1)
	key, _ := enc.Encode(nil, bs[0])
	delta, _ := enc.Encode(nil, bs[1])
	full, _ := Encode(nil, bs[1])
	if len(delta) >= len(key) || len(key) >= len(full) {
		t.Fatalf("sizes: msgp batch %d, keyframe %d, delta %d bytes: want batch > keyframe > delta", len(full), len(key), len(delta))
	}
	t.Logf("msgp batch %d B, keyframe %d B, delta %d B", len(full), len(key), len(delta))
}

func TestWireBaseMissing(t *testing.T) {
	enc, _ := NewEncoder(DefaultWireOptions())
	bs := stream(4, 2)
	f0, _ := enc.Encode(nil, bs[0])
	f1, _ := enc.Encode(nil, bs[1])
	f2, _ := enc.Encode(nil, bs[2])
	dec := NewDecoder()
	if _, err := dec.Decode(f1); !errors.Is(err, ErrBaseMissing) {
		t.Fatalf("delta on an empty decoder: %v, want ErrBaseMissing", err)
	}
	if _, err := dec.Decode(f0); err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Decode(f2); !errors.Is(err, ErrBaseMissing) {
		t.Fatalf("delta that skips one: %v, want ErrBaseMissing", err)
	}
	if dec.Seq() != bs[0].Seq {
		t.Fatalf("a failed frame moved the decoder to %d", dec.Seq())
	}
	// A corrupt body leaves the decoder where it was, too.
	bad, _ := ParseFrame(f1)
	bad.Body = append([]byte(nil), bad.Body...)
	bad.Body[len(bad.Body)/2] ^= 0xff
	if _, err := dec.Apply(bad); err == nil {
		t.Fatal("corrupt body decoded")
	}
	for _, p := range [][]byte{f1, f2} {
		if _, err := dec.Decode(p); err != nil {
			t.Fatal(err)
		}
	}
	// After Reset the encoder starts again with a keyframe any decoder takes.
	enc.Reset()
	f3, _ := enc.Encode(nil, bs[3])
	if got, err := NewDecoder().Decode(f3); err != nil || got.Seq != bs[3].Seq {
		t.Fatalf("keyframe after Reset: %v", err)
	}
}

// TestWireStateHandover: a second decoder continues from the first's
// marshalled state, including dictionary entries of series absent from the
// last frame that come back later.
func TestWireStateHandover(t *testing.T) {
	enc, _ := NewEncoder(WireOptions{Dictionary: true, Delta: true, Precision: 0.002, Compress: true})
	dec := NewDecoder()
	bs := stream(20, 3)
	prev := map[uint32]float64{}
	for i, b := range bs {
		p, _ := enc.Encode(nil, b)
		if i == 5 { // series 5 is absent in windows 4–6
			other := NewDecoder()
			if err := other.UnmarshalState(dec.MarshalState(nil)); err != nil {
				t.Fatal(err)
			}
			dec = other
		}
		got, err := dec.Decode(p)
		if err != nil {
			t.Fatalf("frame %d after handover: %v", i, err)
		}
		within(t, fmt.Sprintf("frame %d", i), b, got, 0.002, prev)
	}
}

func TestParseFrameRejects(t *testing.T) {
	enc, _ := NewEncoder(DefaultWireOptions())
	good, _ := enc.Encode(nil, stream(1, 4)[0])
	f, _ := ParseFrame(good)
	mut := func(m func(*Frame)) []byte {
		c := *f
		m(&c)
		p, _ := c.MarshalMsg(nil)
		return p
	}
	for _, tc := range []struct {
		name string
		p    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)/2], ErrMalformed},
		{"trailing", append(append([]byte(nil), good...), 0xc0), ErrMalformed},
		{"version", mut(func(f *Frame) { f.Version = FrameVersion + 1 }), ErrVersion},
		{"no site", mut(func(f *Frame) { f.Site = "" }), ErrMalformed},
		{"base after seq", mut(func(f *Frame) { f.Base = f.Seq }), ErrMalformed},
		{"unaligned", mut(func(f *Frame) { f.Start++ }), ErrMalformed},
		{"precision", mut(func(f *Frame) { f.Precision = 0.5 }), ErrMalformed},
		{"compression", mut(func(f *Frame) { f.Compression = 9 }), ErrMalformed},
		{"raw length", mut(func(f *Frame) { f.RawLen = 1 << 30 }), ErrMalformed},
		{"a batch", func() []byte { p, _ := Encode(nil, sampleBatch()); return p }(), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDecoder().Decode(tc.p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if !IsFrame(good) {
		t.Fatal("IsFrame(frame) = false")
	}
	if b, _ := Encode(nil, sampleBatch()); IsFrame(b) {
		t.Fatal("IsFrame(batch) = true")
	}
}

func TestWireOptionsValidate(t *testing.T) {
	for _, o := range []WireOptions{{Precision: -1}, {Precision: 0.2}, {Precision: math.NaN()}, {Keyframe: -1}} {
		if _, err := NewEncoder(o); err == nil {
			t.Errorf("NewEncoder(%+v) accepted", o)
		}
	}
}

// FuzzFrame feeds arbitrary bytes to a decoder that holds a state, as a
// delta frame would find it: no input may panic, and a rejected frame
// leaves the state alone.
func FuzzFrame(f *testing.F) {
	enc, _ := NewEncoder(DefaultWireOptions())
	raw, _ := NewEncoder(WireOptions{Dictionary: true, Delta: true, Precision: 0.01})
	bs := stream(3, 5)
	key, _ := enc.Encode(nil, bs[0])
	rkey, _ := raw.Encode(nil, bs[0])
	for _, b := range bs[1:] {
		p, _ := enc.Encode(nil, b)
		f.Add(p)
		p, _ = raw.Encode(nil, b)
		f.Add(p)
	}
	f.Add(key)
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, k := range [][]byte{key, rkey} {
			d := NewDecoder()
			if _, err := d.Decode(k); err != nil {
				t.Fatal(err)
			}
			seq := d.Seq()
			if _, err := d.Decode(p); err != nil && d.Seq() != seq {
				t.Fatalf("rejected frame moved the decoder from %d to %d", seq, d.Seq())
			}
		}
	})
}

func BenchmarkWire(b *testing.B) {
	bs := stream(64, 6)
	for _, o := range []struct {
		name string
		o    WireOptions
	}{{"default", DefaultWireOptions()}, {"zstd", WireOptions{Dictionary: true, Delta: true, Precision: 0.01, Compress: true, ZstdDict: true}},
		{"exact", WireOptions{Dictionary: true, Delta: true, Compress: true}}} {
		b.Run("encode/"+o.name, func(b *testing.B) {
			b.ReportAllocs()
			enc, _ := NewEncoder(o.o)
			var buf []byte
			total := 0
			for i := 0; b.Loop(); i++ {
				bt := *bs[i%len(bs)]
				bt.Seq = uint64(i + 1)
				buf, _ = enc.Encode(buf[:0], &bt)
				total += len(buf)
			}
			b.ReportMetric(float64(total)/float64(b.N), "B/frame")
		})
	}
}

// TestWireLevels: values a dashboard subtracts. A constant whose sketch
// estimates are not the constant travels exactly; an integer gauge and a
// fixed-decimal one (loadavg) arrive exactly when they stand still and
// when a small step rounds back; a large gauge that moves is off by at
// most the precision of its step, not of its level, so the difference of
// two large, nearly equal gauges is right.
func TestWireLevels(t *testing.T) {
	enc, _ := NewEncoder(DefaultWireOptions())
	dec := NewDecoder()
	const total = 25_276_157_952.0
	avail := 20_000_000_000.0
	load := 1.05
	procs := 3.0
	writeback := 0.0
	for w := range 30 {
		b := &Batch{Agent: "s/h", Site: "s", Host: "h", Seq: uint64(w + 1), Start: int64(w) * 60_000, Width: 60_000}
		add := func(id uint32, name string, lo, hi, last float64) {
			b.Series = append(b.Series, Series{ID: id, Name: name})
			// Sketch estimates off by up to 1 %, as DDSketch's are.
			b.Rollups = append(b.Rollups, Rollup{ID: id, Count: 60, Sum: (lo + hi) / 2 * 60, Min: lo, Max: hi, Last: last,
				Quantiles: []float64{lo * 1.004, hi * 0.998, hi * 1.007}})
		}
		if w%3 == 1 {
			avail += float64(w*4096) * 1000
			load = math.Round((load+0.07*float64(w%5-2))*100) / 100
			procs = float64(w % 7)          // down to 0 too: a step down to 0 lands a hair below it
			writeback = float64(w%4) * 4096 // 0 to 3 pages: a 1 % step error is 41 B, not under half a byte
		}
		add(0, "node_memory_MemTotal_bytes", total, total, total)
		add(1, "node_memory_MemAvailable_bytes", avail-8192, avail+4096, avail)
		add(2, "node_load1", load-0.2, load+0.1, load)
		add(3, "node_procs_running", 0, procs+2, procs)
		add(4, "node_memory_Writeback_bytes", 0, writeback+4096, writeback)
		p, err := enc.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dec.Decode(p)
		if err != nil {
			t.Fatal(err)
		}
		r := got.Rollups
		if r[0].Last != total || r[0].Min != total || r[0].Max != total || r[0].Sum != total*60 || r[0].Quantiles[2] != total {
			t.Fatalf("window %d: constant %+v, want exactly %v", w, r[0], total)
		}
		if r[2].Last != load || r[3].Last != procs || r[4].Last != writeback {
			t.Fatalf("window %d: load1 %v (want %v), procs_running %v (want %v), Writeback %v (want %v): want exact",
				w, r[2].Last, load, r[3].Last, procs, r[4].Last, writeback)
		}
		used, want := 1-r[1].Last/r[0].Last, 1-avail/total
		if w%3 != 1 && r[1].Last != avail {
			t.Fatalf("window %d: unchanged MemAvailable %v, want exactly %v", w, r[1].Last, avail)
		}
		if math.Abs(used-want) > 0.01*float64(w*4096)*1000/total+1e-12 {
			t.Fatalf("window %d: RAM used %v, want %v", w, used, want)
		}
	}
}

// TestWireFlatSumExactAtPrecisionZero: a constant whose float sum is not
// value·count (0.1 added 60 times) keeps its sum to the bit at precision
// 0, and at 1 % travels flat with every statistic exact but the sum
// (value·count, within the precision).
func TestWireFlatSumExactAtPrecisionZero(t *testing.T) {
	sum := 0.0
	for range 60 {
		sum += 0.1
	}
	if sum == 0.1*60 {
		t.Fatal("test needs a sum that is not value·count")
	}
	for _, p := range []float64{0, 0.01} {
		o := DefaultWireOptions()
		o.Precision = p
		enc, _ := NewEncoder(o)
		b := &Batch{Agent: "s/h", Site: "s", Host: "h", Seq: 1, Start: 0, Width: 60_000,
			Series:  []Series{{ID: 1, Name: "x"}},
			Rollups: []Rollup{{ID: 1, Count: 60, Sum: sum, Min: 0.1, Max: 0.1, First: 0.1, Last: 0.1, Quantiles: []float64{0.1, 0.1, 0.1}}}}
		f, err := enc.Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewDecoder().Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		r := got.Rollups[0]
		if r.Min != 0.1 || r.Max != 0.1 || r.Last != 0.1 || r.Quantiles[1] != 0.1 {
			t.Errorf("precision %v: %+v, want the constant exactly", p, r)
		}
		if p == 0 && r.Sum != sum || math.Abs(r.Sum-sum) > p*sum {
			t.Errorf("precision %v: sum %v, want %v", p, r.Sum, sum)
		}
	}
}
