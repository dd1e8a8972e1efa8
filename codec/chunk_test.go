package codec

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// sameWindow compares bit for bit.
func sameWindow(a, b *Window) bool {
	fa, fb := fieldsOf(a), fieldsOf(b)
	for i := range fa {
		if math.Float64bits(*fa[i]) != math.Float64bits(*fb[i]) {
			return false
		}
	}
	return a.End == b.End && a.Width == b.Width && a.Count == b.Count && a.HasQuantiles == b.HasQuantiles
}

func checkWindows(t *testing.T, where string, got, want []Window) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d windows, want %d", where, len(got), len(want))
	}
	for i := range want {
		if !sameWindow(&got[i], &want[i]) {
			t.Fatalf("%s: window %d\n got  %+v\n want %+v", where, i, got[i], want[i])
		}
	}
}

// oddFloats are values a chunk must keep bit for bit.
func oddFloats() []float64 {
	return []float64{math.NaN(), math.Float64frombits(0x7ff8000000000001), math.Float64frombits(0xfff8dead00000000),
		math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 2.2250738585072014e-308, 1e-300, 1e300, 1e-9, 0.999e-9,
		1, -1, 0.1, 1.0000000000000002, 1e15 + 0.5, 9007199254740993}
}

// randomWindows makes n windows with End ascending: adversarial (any
// bits, odd values, odd times and counts) or drawn from the grid.
func randomWindows(rng *rand.Rand, n int) []Window {
	q := newQuantizer(chunkPrecision)
	odd := oddFloats()
	value := func(prev float64) float64 {
		switch rng.IntN(6) {
		case 0:
			return math.Float64frombits(rng.Uint64())
		case 1:
			return odd[rng.IntN(len(odd))]
		case 2:
			return prev
		case 3:
			return prev + q.value(int64(rng.IntN(3000)))
		}
		return q.value(int64(rng.IntN(6000) - 3000))
	}
	ws := make([]Window, n)
	end := rng.Int64N(1<<50) - 1<<49
	var prev Window
	for i := range ws {
		w := &ws[i]
		w.Width = prev.Width
		if i == 0 || rng.IntN(8) == 0 {
			w.Width = []int64{60_000, 1, 0, -5, 10_000, math.MaxInt64, rng.Int64()}[rng.IntN(7)]
		}
		end += 1 + rng.Int64N(3)*60_000
		if rng.IntN(10) == 0 {
			end += rng.Int64N(1 << 40)
		}
		w.End = end
		w.Count = prev.Count
		if i == 0 || rng.IntN(5) == 0 {
			w.Count = []uint32{60, 0, 1, math.MaxUint32, rng.Uint32()}[rng.IntN(5)]
		}
		w.HasQuantiles = rng.IntN(3) > 0
		f, pf := fieldsOf(w), fieldsOf(&prev)
		for j := range f {
			*f[j] = value(*pf[j])
		}
		if rng.IntN(4) == 0 { // a grid mean, as the wire makes them
			w.Sum = q.value(int64(rng.IntN(4000))) * float64(w.Count)
		}
		if rng.IntN(4) == 0 {
			w.Max = w.Min
		}
		prev = *w
	}
	return ws
}

// TestChunkRoundTrip: segments and records of random, adversarial and
// realistic windows decode to the same bits, in any concatenation.
func TestChunkRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var cases []struct {
		name string
		ws   []Window
	}
	for i := range 200 {
		cases = append(cases, struct {
			name string
			ws   []Window
		}{fmt.Sprintf("random %d", i), randomWindows(rng, 1+rng.IntN(90))})
	}
	for _, s := range genChunkData(t, 2, 3) {
		cases = append(cases, struct {
			name string
			ws   []Window
		}{s.class, s.ws})
	}
	for _, tc := range cases {
		seg := AppendSegment(nil, tc.ws)
		got, rep, err := DecodeChunk(nil, seg)
		if err != nil || rep != 0 {
			t.Fatalf("%s: segment: %v, %d repeats", tc.name, err, rep)
		}
		checkWindows(t, tc.name+" segment", got, tc.ws)
		var recs []byte
		for i := range tc.ws {
			recs = AppendRecord(recs, &tc.ws[i])
		}
		got, rep, err = DecodeChunk(got[:0], recs)
		if err != nil || rep != 0 {
			t.Fatalf("%s: records: %v, %d repeats", tc.name, err, rep)
		}
		checkWindows(t, tc.name+" records", got, tc.ws)
		// Range-coded records (format 2, written before plain records)
		// still decode, also interleaved with plain ones.
		recs = recs[:0]
		for i := range tc.ws {
			if i%2 == 0 {
				recs = appendChunkPart(recs, chunkRecord, tc.ws[i:i+1])
			} else {
				recs = AppendRecord(recs, &tc.ws[i])
			}
		}
		got, rep, err = DecodeChunk(got[:0], recs)
		if err != nil || rep != 0 {
			t.Fatalf("%s: range-coded records: %v, %d repeats", tc.name, err, rep)
		}
		checkWindows(t, tc.name+" range-coded records", got, tc.ws)
		// Half as a segment, the rest as records, then the whole again.
		h := len(tc.ws) / 2
		mixed := AppendSegment(nil, tc.ws[:h])
		for i := h; i < len(tc.ws); i++ {
			mixed = AppendRecord(mixed, &tc.ws[i])
		}
		mixed = AppendSegment(mixed, tc.ws)
		got, rep, err = DecodeChunk(nil, mixed)
		if err != nil || rep != len(tc.ws) {
			t.Fatalf("%s: mixed: %v, %d repeats (want %d)", tc.name, err, rep, len(tc.ws))
		}
		checkWindows(t, tc.name+" mixed", got, tc.ws)
	}
}

// TestChunkLastWins: of windows with one End the one appended last
// stays; the output is sorted; dst is kept.
func TestChunkLastWins(t *testing.T) {
	w := func(end int64, v float64) Window {
		return Window{End: end, Width: 60_000, Count: 60, Sum: v * 60, Min: v, Max: v, First: math.NaN(), Last: v}
	}
	seg := AppendSegment(nil, []Window{w(60_000, 1), w(120_000, 2), w(180_000, 3)})
	for _, tc := range []struct {
		name    string
		p       []byte
		want    []Window
		repeats int
	}{
		{"segment", seg, []Window{w(60_000, 1), w(120_000, 2), w(180_000, 3)}, 0},
		{"late record", AppendRecord(seg, ptr(w(30_000, 9))), []Window{w(30_000, 9), w(60_000, 1), w(120_000, 2), w(180_000, 3)}, 0},
		{"record replaces", AppendRecord(seg, ptr(w(120_000, 7))), []Window{w(60_000, 1), w(120_000, 7), w(180_000, 3)}, 1},
		{"records then segment", AppendSegment(AppendRecord(AppendRecord(nil, ptr(w(180_000, 8))), ptr(w(180_000, 9))),
			[]Window{w(60_000, 1), w(120_000, 2), w(180_000, 3)}), []Window{w(60_000, 1), w(120_000, 2), w(180_000, 3)}, 2},
		{"empty", nil, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keep := w(1, 42)
			got, rep, err := DecodeChunk([]Window{keep}, tc.p)
			if err != nil || rep != tc.repeats {
				t.Fatalf("err %v, %d repeats, want %d", err, rep, tc.repeats)
			}
			checkWindows(t, tc.name, got, append([]Window{keep}, tc.want...))
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodeChunkRejects(t *testing.T) {
	ws := genChunkData(t, 1, 4)[0].ws
	seg := AppendSegment(nil, ws)
	rec := AppendRecord(nil, &ws[0])
	for _, tc := range []struct {
		name string
		p    []byte
	}{
		{"unknown tag", []byte{0x30, 1, 2}},
		{"unknown exp variant", append([]byte{seg[0] | 3}, seg[1:]...)},
		{"truncated segment", seg[:len(seg)-1]},
		{"truncated record", rec[:len(rec)-1]},
		{"header only", seg[:3]},
		{"too many windows", []byte{chunkSegment | chunkMinute, 0xff, 0xff, 0xff, 0x7f, 0, 60, 0, 0, 0, 0}},
		{"record then garbage", append(append([]byte(nil), rec...), 0x00)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := DecodeChunk(nil, tc.p)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %d windows, err %v, want ErrMalformed", len(got), err)
			}
		})
	}
}

// chunkSizes measures bytes per window of one series' windows stored as
// hourly segments, as records, and as Prometheus XOR chunks (one per
// statistic and hour).
func chunkSizes(t testing.TB, ws []Window) (segment, record, xor int) {
	for h := 0; h < len(ws); h += 60 {
		hour := ws[h:min(h+60, len(ws))]
		segment += len(AppendSegment(nil, hour))
		for i := range hour {
			record += len(AppendRecord(nil, &hour[i]))
		}
		for f := range 9 {
			c := chunkenc.NewXORChunk()
			app, err := c.Appender()
			if err != nil {
				t.Fatal(err)
			}
			for i := range hour {
				w := &hour[i]
				v := []float64{float64(w.Count), w.Sum, w.Min, w.Max, w.First, w.Last, w.P50, w.P90, w.P99}[f]
				app.Append(0, w.End, v)
			}
			xor += len(c.Bytes())
		}
	}
	return
}

// TestChunkSizes prints bytes per window of each data class and of the
// mix (go test -run TestChunkSizes -v ./codec/), and holds the segment to
// the store's budget.
func TestChunkSizes(t *testing.T) {
	const hours = 6
	data := genChunkData(t, hours, 11)
	type tally struct{ series, windows, seg, rec, xor int }
	byClass := map[string]*tally{}
	var order []string
	var mix tally
	for _, s := range data {
		seg, rec, xor := chunkSizes(t, s.ws)
		c := byClass[s.class]
		if c == nil {
			c = &tally{}
			byClass[s.class] = c
			order = append(order, s.class)
		}
		for _, x := range []*tally{c, &mix} {
			x.series++
			x.windows += len(s.ws)
			x.seg += seg
			x.rec += rec
			x.xor += xor
		}
	}
	row := func(name string, x *tally) {
		n := float64(x.windows)
		t.Logf("| %-16s | %6d | %7.2f | %6.2f | %9.2f |", name, x.series, float64(x.seg)/n, float64(x.rec)/n, float64(x.xor)/n)
	}
	t.Logf("bytes per window, %d hours of 60 s windows per series", hours)
	t.Logf("| %-16s | %6s | %7s | %6s | %9s |", "class", "series", "segment", "record", "XOR chunk")
	t.Logf("|%s|%s|%s|%s|%s|", "------------------", "--------", "---------", "--------", "-----------")
	for _, name := range order {
		row(name, byClass[name])
	}
	row("mix", &mix)
	if seg := float64(mix.seg) / float64(mix.windows); seg >= 8 {
		t.Errorf("segment costs %.2f B/window on the mix, budget 8", seg)
	}
}

// FuzzDecodeChunk: no input panics or allocates without bound; what
// decodes is sorted with unique ends, and re-encodes to the same windows.
func FuzzDecodeChunk(f *testing.F) {
	for _, p := range chunkSeeds(f) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		ws, _, err := DecodeChunk(nil, p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(ws) > 64*len(p)+64 {
			t.Fatalf("%d windows out of %d bytes", len(ws), len(p))
		}
		for i := 1; i < len(ws); i++ {
			if ws[i].End <= ws[i-1].End {
				t.Fatalf("window %d: End %d after %d", i, ws[i].End, ws[i-1].End)
			}
		}
		if len(ws) == 0 {
			return
		}
		again, _, err := DecodeChunk(nil, AppendSegment(nil, ws))
		if err != nil {
			t.Fatal(err)
		}
		checkWindows(t, "re-encoded", again, ws)
	})
}

var updateChunkCorpus = flag.Bool("update", false, "rewrite testdata/fuzz/FuzzDecodeChunk")

// chunkSeeds are FuzzDecodeChunk's seeds: realistic segments with a late
// record, random and adversarial ones.
func chunkSeeds(tb testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(5, 5))
	var out [][]byte
	for _, s := range genChunkData(tb, 1, 6) {
		out = append(out, AppendRecord(AppendSegment(nil, s.ws[:12]), &s.ws[3]))
	}
	for n := range 4 {
		out = append(out, AppendSegment(nil, randomWindows(rng, 1+3*n)))
	}
	for _, w := range randomWindows(rng, 4) {
		out = append(out, AppendRecord(appendChunkPart(nil, chunkRecord, []Window{w}), &w))
	}
	return out
}

// TestChunkFuzzCorpus writes the seeds to testdata/fuzz/FuzzDecodeChunk
// (go test -run TestChunkFuzzCorpus -update ./codec/).
func TestChunkFuzzCorpus(t *testing.T) {
	if !*updateChunkCorpus {
		t.Skip("-update writes testdata/fuzz/FuzzDecodeChunk")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeChunk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, p := range chunkSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", p)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkAppendSegment(b *testing.B) {
	data := genChunkData(b, 1, 9)
	for _, n := range []int{1, 60, 360} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ws := make([]Window, 0, n)
			for len(ws) < n {
				ws = append(ws, data[len(ws)%len(data)].ws[len(ws)%60])
				ws[len(ws)-1].End = int64(len(ws)) * 60_000
			}
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = AppendSegment(buf[:0], ws)
			}
			b.SetBytes(int64(len(buf)))
			b.ReportMetric(float64(len(buf))/float64(n), "B/window")
		})
	}
}

func BenchmarkDecodeChunk(b *testing.B) {
	data := genChunkData(b, 6, 10)
	for _, class := range []int{0, 4, len(data) - 1} {
		s := data[class]
		p := AppendSegment(nil, s.ws)
		b.Run(s.class, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			var ws []Window
			for b.Loop() {
				var err error
				if ws, _, err = DecodeChunk(ws[:0], p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(p))/float64(len(ws)), "B/window")
		})
	}
}

func BenchmarkAppendRecord(b *testing.B) {
	w := Window{End: 1_700_000_040_000, Width: 60_000, Count: 60, Sum: 60 * 1.5, Min: 0.5, Max: 2, First: math.NaN(), Last: 1.5, P50: 1.5, P90: 1.8, P99: 1.9, HasQuantiles: true}
	b.ReportAllocs()
	var dst []byte
	for b.Loop() {
		dst = AppendRecord(dst[:0], &w)
	}
	b.ReportMetric(float64(len(dst)), "B/record")
}

// BenchmarkRecords: an hour of the synthetic mix's windows appended as
// records and decoded, plain records (what AppendRecord writes) against
// the range-coded records written before them.
func BenchmarkRecords(b *testing.B) {
	var ws []Window
	for _, s := range genChunkData(b, 1, 9) {
		ws = append(ws, s.ws[:60]...)
	}
	for _, v := range []struct {
		name string
		app  func([]byte, *Window) []byte
	}{
		{"plain", AppendRecord},
		{"range_coded", func(dst []byte, w *Window) []byte { return appendChunkPart(dst, chunkRecord, []Window{*w}) }},
	} {
		var p []byte
		for i := range ws {
			p = v.app(p, &ws[i])
		}
		b.Run(v.name+"/append", func(b *testing.B) {
			var dst []byte
			for b.Loop() {
				dst = dst[:0]
				for i := range ws {
					dst = v.app(dst, &ws[i])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ws)), "ns/window")
			b.ReportMetric(float64(len(p))/float64(len(ws)), "B/window")
		})
		b.Run(v.name+"/decode", func(b *testing.B) {
			var out []Window
			for b.Loop() {
				out, _ = DecodeChunkAll(out[:0], p)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ws)), "ns/window")
		})
	}
}
