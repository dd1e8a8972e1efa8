package backhaul

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// ReadWindowLog reads an agent's window log (edge/agent window_log): one
// JSON batch per line, in the order the windows closed. A torn last line
// (an agent killed mid-write) is skipped and counted.
func ReadWindowLog(path string) (batches []*codec.Batch, torn int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("backhaul: window log: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		b := new(codec.Batch)
		if err := json.Unmarshal(sc.Bytes(), b); err != nil {
			torn++
			continue
		}
		batches = append(batches, b)
	}
	if err := sc.Err(); err != nil {
		return nil, torn, fmt.Errorf("backhaul: window log %s: %w", path, err)
	}
	sort.SliceStable(batches, func(i, j int) bool { return batches[i].Start < batches[j].Start })
	return batches, torn, nil
}

// Technique is one row of the techniques table: a way to encode each
// host's window batches, run offline over the agents' window logs.
type Technique struct {
	Name string
	// New returns a fresh per-host encoder: it is fed every window of one
	// host in order and returns the bytes of each encoded window.
	New func() (func(b *codec.Batch) ([]byte, error), error)
	// Decoder, when set, returns a fresh per-host decoder; every encoded
	// window is decoded and compared with its batch within Precision.
	Decoder   func() func([]byte) (*codec.Batch, error)
	Precision float64
	// Amortize > 0 counts a keyframe every Amortize windows: the row is
	// ((Amortize−1)·delta frame + keyframe) / Amortize, with the keyframe
	// of each measured window encoded by a fresh encoder. The run is
	// shorter than a keyframe period, so without this the row would show
	// delta frames only.
	Amortize int
}

// TechniqueRow is a technique's measured cost.
type TechniqueRow struct {
	Name            string
	BytesPerHostMin float64
	BytesPerWindow  float64 // mean encoded window
	KeyframeBytes   float64 // mean keyframe, for amortized rows
	// RoundTrip: values compared after decoding, and how many differed.
	RoundTrip, RoundTripBad int
	Err                     string
}

// techniques is the table. Rows are encoders over the same batches, from
// today's wire format to the compact ones.
func techniques() []Technique {
	rows := []Technique{
		{Name: "msgp full batch (codec.Encode, names every window)", New: func() (func(*codec.Batch) ([]byte, error), error) {
			return func(b *codec.Batch) ([]byte, error) { return codec.Encode(nil, b) }, nil
		}},
		{Name: "msgp + s2 best per message (what the leaf link does)", New: func() (func(*codec.Batch) ([]byte, error), error) {
			return func(b *codec.Batch) ([]byte, error) {
				raw, err := codec.Encode(nil, b)
				if err != nil {
					return nil, err
				}
				return s2.EncodeBest(nil, raw), nil
			}, nil
		}},
		{Name: "msgp + zstd per message (no dictionary)", New: func() (func(*codec.Batch) ([]byte, error), error) {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
			if err != nil {
				return nil, err
			}
			return func(b *codec.Batch) ([]byte, error) {
				raw, err := codec.Encode(nil, b)
				if err != nil {
					return nil, err
				}
				return enc.EncodeAll(raw, nil), nil
			}, nil
		}},
	}
	// The frame format's rows (codec.WireOptions), one technique at a time.
	return append(rows, wireRows()...)
}

// measureTechniques encodes each host's windows with every technique;
// only windows with Start in [from, to) count, earlier ones prime the
// encoder's state (the dictionary a stateful encoder sends once). The
// batches get consecutive sequence numbers (the log has none).
func measureTechniques(logs map[string][]*codec.Batch, from, to int64, hostMinutes float64) []TechniqueRow {
	var out []TechniqueRow
	for _, t := range techniques() {
		row := TechniqueRow{Name: t.Name}
		total, keys, n := 0, 0, 0
	hosts:
		for _, id := range slices.Sorted(mapsKeys(logs)) {
			enc, err := t.New()
			if err != nil {
				row.Err = err.Error()
				break
			}
			var raw, bound map[uint32]float64
			var dec func([]byte) (*codec.Batch, error)
			if t.Decoder != nil {
				dec = t.Decoder()
			}
			for i, lb := range logs[id] {
				b := *lb
				b.Seq = uint64(i + 1)
				p, err := enc(&b)
				if err != nil {
					row.Err = fmt.Sprintf("%s window %d: %v", id, b.Start, err)
					break hosts
				}
				if dec != nil {
					got, err := dec(p)
					if err != nil {
						row.Err = fmt.Sprintf("%s window %d: decode: %v", id, b.Start, err)
						break hosts
					}
					raw, bound = counterBounds(&b, raw, bound, t.Precision)
					c, bad := sameBatch(&b, got, t.Precision, bound)
					row.RoundTrip += c
					row.RoundTripBad += bad
				}
				if b.Start < from || b.Start >= to {
					continue
				}
				total += len(p)
				n++
				if t.Amortize > 0 {
					fresh, err := t.New()
					if err != nil {
						row.Err = err.Error()
						break hosts
					}
					k, err := fresh(&b)
					if err != nil {
						row.Err = err.Error()
						break hosts
					}
					keys += len(k)
				}
			}
		}
		if n > 0 {
			per := float64(total) / float64(n)
			if t.Amortize > 0 {
				row.KeyframeBytes = float64(keys) / float64(n)
				per = (float64(t.Amortize-1)*per + row.KeyframeBytes) / float64(t.Amortize)
			}
			row.BytesPerWindow = per
			row.BytesPerHostMin = per * float64(n) / hostMinutes
		}
		out = append(out, row)
	}
	return out
}

// sameBatch compares a decoded batch with the original: series names and
// labels exactly, rollups within tol (see compareRollup). It returns the
// values compared and how many differed.
func sameBatch(want, got *codec.Batch, tol float64, bounds map[uint32]float64) (checked, bad int) {
	gotSeries := make(map[uint32]*codec.Series, len(got.Series))
	for i := range got.Series {
		gotSeries[got.Series[i].ID] = &got.Series[i]
	}
	gotRollups := make(map[uint32]*codec.Rollup, len(got.Rollups))
	for i := range got.Rollups {
		gotRollups[got.Rollups[i].ID] = &got.Rollups[i]
	}
	for i := range want.Series {
		s := &want.Series[i]
		g := gotSeries[s.ID]
		checked++
		if g == nil || g.Name != s.Name || g.Kind != s.Kind || !slices.Equal(g.Labels, s.Labels) {
			bad++
		}
	}
	for i := range want.Rollups {
		r := &want.Rollups[i]
		g := gotRollups[r.ID]
		checked += 6 + len(r.Quantiles)
		if g == nil {
			bad += 6 + len(r.Quantiles)
			continue
		}
		kind := codec.Gauge
		for j := range want.Series {
			if want.Series[j].ID == r.ID {
				kind = want.Series[j].Kind
			}
		}
		p := store.Point{Count: g.Count, Sum: g.Sum, Min: g.Min, Max: g.Max, First: g.First, Last: g.Last}
		if len(g.Quantiles) == 3 {
			p.P50, p.P90, p.P99, p.HasQuantiles = g.Quantiles[0], g.Quantiles[1], g.Quantiles[2], true
		}
		bad += len(compareRollup(r, kind, p, tol, bounds[r.ID]))
	}
	return checked, bad
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Fidelity is the outcome of checking what the aggregator stored against
// the agents' window logs.
type Fidelity struct {
	Checked    int // values compared
	Mismatches int
	Missing    int // rollups absent from Redis
	Examples   []string
	// Windows: expected (hosts × windows in the checked range), logged by
	// the agents, stored (every rollup present in Redis).
	WindowsExpected, WindowsLogged, WindowsStored int
}

// checkFidelity compares, for every host and logged window with Start in
// [from, to], every rollup's statistics with what Redis holds: count
// exact, a counter's raw Last and a gauge's Last exact or within their
// step's bound (counterBounds), the rest within tol relative.
func checkFidelity(ctx context.Context, st *store.Store, logs map[string][]*codec.Batch, from, to, width int64, tol float64) (Fidelity, error) {
	var f Fidelity
	perHost := int((to-from)/width) + 1
	for _, id := range slices.Sorted(mapsKeys(logs)) {
		f.WindowsExpected += perHost
		var windows []*codec.Batch
		boundOf := map[*codec.Batch]map[uint32]float64{} // each window's raw counter bounds
		var raw, bound map[uint32]float64
		for _, b := range logs[id] {
			raw, bound = counterBounds(b, raw, bound, tol)
			if b.Start >= from && b.Start <= to {
				windows = append(windows, b)
				boundOf[b] = bound
			}
		}
		f.WindowsLogged += len(windows)
		if len(windows) == 0 {
			continue
		}
		// One series list for the host; one ZRANGE per series over the range.
		sids := map[string]int{}
		var order []string
		for _, b := range windows {
			for i := range b.Series {
				sid := store.SeriesID(store.Canon(b.Series[i].Name, store.SeriesLabels(b, &b.Series[i])))
				if _, ok := sids[sid]; !ok {
					sids[sid] = len(order)
					order = append(order, sid)
				}
			}
		}
		refs := make([]store.SeriesRef, len(order))
		for i, sid := range order {
			refs[i] = store.SeriesRef{ID: sid, Agent: windows[0].Site + "/" + windows[0].Host}
		}
		pts, err := st.Points(ctx, refs, from+width, to+width)
		if err != nil {
			return f, err
		}
		byEnd := make([]map[int64]store.Point, len(order))
		for i, ps := range pts {
			byEnd[i] = make(map[int64]store.Point, len(ps))
			for _, p := range ps {
				byEnd[i][p.End] = p
			}
		}
		for _, b := range windows {
			ok := true
			series := make(map[uint32]*codec.Series, len(b.Series))
			for i := range b.Series {
				series[b.Series[i].ID] = &b.Series[i]
			}
			for i := range b.Rollups {
				r := &b.Rollups[i]
				s := series[r.ID]
				sid := store.SeriesID(store.Canon(s.Name, store.SeriesLabels(b, s)))
				p, found := byEnd[sids[sid]][b.Start+b.Width]
				if !found {
					f.Missing++
					ok = false
					if len(f.Examples) < 8 {
						f.Examples = append(f.Examples, fmt.Sprintf("%s %s%v window %d: not in Redis", id, s.Name, s.Labels, b.Start))
					}
					continue
				}
				bad := compareRollup(r, s.Kind, p, tol, boundOf[b][r.ID])
				f.Checked += 6 + len(r.Quantiles) // count, sum, min, max, first, last, quantiles
				f.Mismatches += len(bad)
				if len(bad) > 0 && len(f.Examples) < 8 {
					f.Examples = append(f.Examples, fmt.Sprintf("%s %s%v window %d: %v", id, s.Name, s.Labels, b.Start, bad))
				}
			}
			if ok {
				f.WindowsStored++
			}
		}
	}
	return f, nil
}

// compareRollup lists the statistics of p that differ from r beyond the
// wire's bound (docs/wire.md): count exact; the other statistics within
// tol relative; a counter's raw value and a gauge's last value within
// rawBound (0: exactly), see counterBounds.
func compareRollup(r *codec.Rollup, kind codec.Kind, p store.Point, tol, rawBound float64) []string {
	var bad []string
	if p.Count != r.Count {
		bad = append(bad, fmt.Sprintf("count %d≠%d", p.Count, r.Count))
	}
	near := func(name string, want, got float64, exact bool) {
		if tol == 0 {
			exact = true
		}
		if exact {
			if math.Float64bits(want) != math.Float64bits(got) && !(math.IsNaN(want) && math.IsNaN(got)) && want != got {
				bad = append(bad, fmt.Sprintf("%s %v≠%v", name, got, want))
			}
			return
		}
		// The codec's bound: |got − want| ≤ p(1+p)|want|.
		if d := math.Abs(got - want); d > tol*(1+tol)*math.Abs(want)+1e-300 {
			bad = append(bad, fmt.Sprintf("%s %v≉%v", name, got, want))
		}
	}
	near("sum", r.Sum, p.Sum, false)
	near("min", r.Min, p.Min, false)
	near("max", r.Max, p.Max, false)
	if !math.IsNaN(p.First) { // NaN: not sent (wire.first off)
		near("first", r.First, p.First, false)
	}
	switch {
	case r.Count == 0 && kind != codec.Counter:
		near("last", r.Last, p.Last, false)
	case rawBound > 0:
		if d := math.Abs(p.Last - r.Last); d > rawBound+1e-12*math.Abs(r.Last) {
			bad = append(bad, fmt.Sprintf("raw last %v≉%v (bound %v)", p.Last, r.Last, rawBound))
		}
	default:
		near("last", r.Last, p.Last, true)
	}
	if len(r.Quantiles) == 3 {
		if !p.HasQuantiles {
			bad = append(bad, "quantiles missing")
		} else {
			near("p50", r.Quantiles[0], p.P50, false)
			near("p90", r.Quantiles[1], p.P90, false)
			near("p99", r.Quantiles[2], p.P99, false)
		}
	}
	return bad
}

// counterBounds returns the raw values of b's counters and how far from
// them the receiver's values may be. A counter's raw value travels
// exactly in a keyframe and after a reset; in between only its increment
// travels, quantized within tol and taken against the value the receiver
// holds (error feedback), so with growth g and the previous bound B the
// error is at most tol·(1+tol)·(g + B). A window where the counter did not
// move (g = 0) is sent flat and corrects nothing: the bound stays B.
// The first window of a series and a reset get bound 0 (exact).
//
// A gauge's last value (its level) travels the same way with a signed
// step: bound 0 (exact) on first sight and in every window where it did
// not change, else tol·(1+tol)·(|step| + B).
func counterBounds(b *codec.Batch, prevRaw, prevBound map[uint32]float64, tol float64) (raw, bound map[uint32]float64) {
	counters := make(map[uint32]bool, len(b.Series))
	for i := range b.Series {
		if b.Series[i].Kind == codec.Counter {
			counters[b.Series[i].ID] = true
		}
	}
	raw, bound = make(map[uint32]float64, len(b.Rollups)), make(map[uint32]float64, len(b.Rollups))
	for i := range b.Rollups {
		r := &b.Rollups[i]
		if !counters[r.ID] {
			// A gauge's level (frame version 4): exact on first sight and
			// whenever it did not change, else within tol of its step
			// from the level the receiver held.
			if r.Count == 0 {
				continue
			}
			raw[r.ID] = r.Last
			if p, ok := prevRaw[r.ID]; ok && tol > 0 && math.Float64bits(r.Last) != math.Float64bits(p) {
				bound[r.ID] = tol * (1 + tol) * (math.Abs(r.Last-p) + prevBound[r.ID])
			}
			continue
		}
		raw[r.ID] = r.Last
		switch p, ok := prevRaw[r.ID]; {
		case !ok || r.Last < p || tol == 0:
			// exact: first window, reset, or exact wire
		case r.Last == p:
			// A counter that did not move travels as "flat": nothing
			// corrects the receiver's value, which keeps its error.
			bound[r.ID] = prevBound[r.ID]
		default:
			bound[r.ID] = tol * (1 + tol) * (r.Last - p + prevBound[r.ID])
		}
	}
	return raw, bound
}
