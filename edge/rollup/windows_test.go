package rollup

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Options)
		wantErr string // substring naming the field; "" for valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"zero width and accuracy mean defaults", func(o *Options) { o.Width, o.RelativeAccuracy = 0, 0 }, ""},
		{"sketch off", func(o *Options) { o.NoSketch = true }, ""},
		{"width below a second", func(o *Options) { o.Width = 500 * time.Millisecond }, "width"},
		{"width not whole seconds", func(o *Options) { o.Width = 1500 * time.Millisecond }, "width"},
		{"width above a day", func(o *Options) { o.Width = 25 * time.Hour }, "width"},
		{"negative lateness", func(o *Options) { o.Lateness = -time.Second }, "lateness"},
		{"lateness not below width", func(o *Options) { o.Lateness = time.Minute }, "lateness"},
		{"accuracy too fine", func(o *Options) { o.RelativeAccuracy = 1e-5 }, "relative_accuracy"},
		{"accuracy too coarse", func(o *Options) { o.RelativeAccuracy = 0.6 }, "relative_accuracy"},
		{"accuracy negative", func(o *Options) { o.RelativeAccuracy = -0.01 }, "relative_accuracy"},
		{"accuracy NaN", func(o *Options) { o.RelativeAccuracy = math.NaN() }, "relative_accuracy"},
		{"accuracy smallest", func(o *Options) { o.RelativeAccuracy = 0.0001 }, ""},
		{"accuracy largest", func(o *Options) { o.RelativeAccuracy = 0.5 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.mod(&o)
			err := o.Validate()
			_, newErr := New(o, gauges)
			switch {
			case tt.wantErr == "" && (err != nil || newErr != nil):
				t.Errorf("Validate = %v, New = %v; want valid", err, newErr)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error naming %q", err, tt.wantErr)
			case tt.wantErr != "" && newErr == nil:
				t.Errorf("New accepted options Validate rejects")
			}
		})
	}
}

func gauges(uint32) codec.Kind   { return codec.Gauge }
func counters(uint32) codec.Kind { return codec.Counter }

func newWindows(t testing.TB, opts Options, kind KindFunc) *Windows {
	t.Helper()
	w, err := New(opts, kind)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestGaugeWindows(t *testing.T) {
	w := newWindows(t, Options{Width: 10 * time.Second, Lateness: time.Second}, gauges)
	// Two windows, samples out of order within them.
	for _, s := range []sample{{1000, 5}, {9999, 7}, {0, 1}, {3000, -2}, {10000, 100}, {15000, 50}} {
		if !w.Add(1, s.ts, s.v) {
			t.Fatalf("Add(%v) refused", s)
		}
	}
	w.Add(2, 5000, 42)
	got := w.Close(21000)
	if len(got) != 2 || got[0].Start != 0 || got[1].Start != 10000 || got[0].Width != 10000 {
		t.Fatalf("Close = %+v, want windows at 0 and 10000", got)
	}
	st := got[0].States[1]
	want := State{Count: 4, Sum: 11, Min: -2, Max: 7, First: 1, FirstTS: 0, Last: 7, LastTS: 9999}
	if st.Count != want.Count || st.Sum != want.Sum || st.Min != want.Min || st.Max != want.Max ||
		st.First != want.First || st.FirstTS != want.FirstTS || st.Last != want.Last || st.LastTS != want.LastTS {
		t.Errorf("window 0 series 1 = %+v, want %+v", *st, want)
	}
	if q := st.Quantiles(); len(q) != 3 || !withinRelative(q[0], 1, 0.01) || !withinRelative(q[2], 5, 0.01) {
		// sorted -2 1 5 7: p50 rank 1.5 → 1, p99 rank 2.97 → 5
		t.Errorf("window 0 series 1 quantiles %v, want ≈[1 5 5]", q)
	}
	if st := got[0].States[2]; st.Count != 1 || st.Last != 42 {
		t.Errorf("window 0 series 2 = %+v", *st)
	}
	if st := got[1].States[1]; st.Count != 2 || st.First != 100 || st.Last != 50 {
		t.Errorf("window 10000 series 1 = %+v", *st)
	}
	if _, ok := got[1].States[2]; ok {
		t.Error("series 2 has a state in a window where it had no sample")
	}
}

func TestNoSketch(t *testing.T) {
	w := newWindows(t, Options{NoSketch: true}, gauges)
	if w.Sketch() != nil {
		t.Fatal("Sketch() not nil with NoSketch")
	}
	w.Add(1, 1000, 1)
	w.Add(1, 2000, 2)
	win := w.Close(time.Hour.Milliseconds())
	if len(win) != 1 {
		t.Fatalf("Close = %+v", win)
	}
	st := win[0].States[1]
	if st.Count != 2 || st.Quantiles() != nil || st.sk != nil {
		t.Errorf("state %+v, quantiles %v: want 2 samples and no sketch", *st, st.Quantiles())
	}
}

func TestCounterRates(t *testing.T) {
	type want struct {
		count                 uint32
		min, max, first, last float64
		raw                   float64
		lastTS                int64
	}
	tests := []struct {
		name       string
		samples    []sample
		refused    int // samples Add returned false for
		outOfOrder uint64
		want       want
	}{
		{
			name:    "first sample makes no rate but sets raw",
			samples: []sample{{5000, 1234}},
			want:    want{count: 0, raw: 1234, lastTS: 5000},
		},
		{
			name:    "steady",
			samples: []sample{{1000, 100}, {2000, 110}, {3000, 130}},
			want:    want{count: 2, min: 10, max: 20, first: 10, last: 20, raw: 130, lastTS: 3000},
		},
		{
			name:    "sub-second gap",
			samples: []sample{{1000, 100}, {1500, 110}},
			want:    want{count: 1, min: 20, max: 20, first: 20, last: 20, raw: 110, lastTS: 1500},
		},
		{
			name: "reset mid-window",
			// 100 → 110 is +10; 110 → 5 is a reset: the increase is 5.
			samples: []sample{{1000, 100}, {2000, 110}, {3000, 5}, {4000, 15}},
			want:    want{count: 3, min: 5, max: 10, first: 10, last: 10, raw: 15, lastTS: 4000},
		},
		{
			name:    "reset to zero",
			samples: []sample{{1000, 100}, {2000, 0}, {4000, 8}},
			want:    want{count: 2, min: 0, max: 4, first: 0, last: 4, raw: 8, lastTS: 4000},
		},
		{
			name: "out-of-order sample is dropped and counted",
			// 105 at 1500 is older than 110 at 2000: no rate from it, and the
			// next rate is still taken against 110 at 2000.
			samples:    []sample{{1000, 100}, {2000, 110}, {1500, 105}, {3000, 140}},
			refused:    1,
			outOfOrder: 1,
			want:       want{count: 2, min: 10, max: 30, first: 10, last: 30, raw: 140, lastTS: 3000},
		},
		{
			name:       "duplicate timestamp is dropped and counted",
			samples:    []sample{{1000, 100}, {2000, 110}, {2000, 110}, {3000, 120}},
			refused:    1,
			outOfOrder: 1,
			want:       want{count: 2, min: 10, max: 10, first: 10, last: 10, raw: 120, lastTS: 3000},
		},
		{
			name: "out-of-order before a first sight keeps the later raw",
			// The first sight at 5000 stays the window's raw value.
			samples:    []sample{{5000, 50}, {4000, 40}},
			refused:    1,
			outOfOrder: 1,
			want:       want{count: 0, raw: 50, lastTS: 5000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindows(t, DefaultOptions(), counters)
			refused := 0
			for _, s := range tt.samples {
				if !w.Add(7, s.ts, s.v) {
					refused++
				}
			}
			if refused != tt.refused || w.OutOfOrder() != tt.outOfOrder {
				t.Errorf("refused %d, OutOfOrder %d; want %d, %d", refused, w.OutOfOrder(), tt.refused, tt.outOfOrder)
			}
			win := w.Close(time.Hour.Milliseconds())
			if len(win) != 1 {
				t.Fatalf("Close = %+v, want one window", win)
			}
			st := win[0].States[7]
			got := want{st.Count, st.Min, st.Max, st.First, st.Last, st.Raw, st.LastTS}
			if got != tt.want {
				t.Errorf("state %+v\n got %+v\nwant %+v", *st, got, tt.want)
			}
			if st.Count > 0 {
				if q, ok := st.Quantile(1); !ok || !withinRelative(q, tt.want.max, 0.01) {
					t.Errorf("rate p100 = %v (%v), want ≈%v", q, ok, tt.want.max)
				}
			}
		})
	}
}

func TestCounterAcrossWindows(t *testing.T) {
	w := newWindows(t, Options{Width: 10 * time.Second}, counters)
	w.Add(1, 8000, 0)
	w.Add(1, 9000, 10)
	w.Add(1, 11000, 30) // first sample of window 10000: rate against 10 at 9000
	win := w.Close(time.Hour.Milliseconds())
	if len(win) != 2 {
		t.Fatalf("Close = %+v", win)
	}
	if st := win[0].States[1]; st.Count != 1 || st.Last != 10 || st.Raw != 10 {
		t.Errorf("window 0: %+v", *st)
	}
	if st := win[1].States[1]; st.Count != 1 || st.Last != 10 || st.Raw != 30 {
		t.Errorf("window 10000: %+v, want rate 10 and raw 30", *st)
	}
	// After Forget the series starts afresh: no rate from the old value.
	w.Forget(1)
	w.Add(1, 3_600_001_000, 5)
	if st := w.open[w.WindowStart(3_600_001_000)][1]; st.Count != 0 || st.Raw != 5 {
		t.Errorf("after Forget: %+v, want a first sight", *st)
	}
}

func TestWatermarkAndLateness(t *testing.T) {
	w := newWindows(t, Options{Width: 60 * time.Second, Lateness: 2 * time.Second}, gauges)
	w.Add(1, 59_000, 1)
	if got := w.Close(61_999); len(got) != 0 {
		t.Fatalf("Close(61999) = %+v: the window is still within its lateness", got)
	}
	// Within the lateness the window still takes samples.
	if !w.Add(1, 59_500, 2) {
		t.Fatal("sample within the lateness refused")
	}
	w.Add(1, 61_000, 3) // next window
	got := w.Close(62_000)
	if len(got) != 1 || got[0].Start != 0 || got[0].States[1].Count != 2 || got[0].Late != 0 {
		t.Fatalf("Close(62000) = %+v, want window 0 with 2 samples", got)
	}
	w.Recycle(got[0])

	// Window 0 is closed: its samples are late, counted, and never reopen it.
	for _, ts := range []int64{0, 30_000, 59_999} {
		if w.Add(1, ts, 9) {
			t.Errorf("late sample at %d accepted", ts)
		}
	}
	if w.Late() != 3 {
		t.Errorf("Late() = %d, want 3", w.Late())
	}
	if got := w.Close(62_000); len(got) != 0 {
		t.Errorf("a late sample reopened a window: %+v", got)
	}
	// The late count rides on the next window that closes.
	got = w.Close(122_000)
	if len(got) != 1 || got[0].Start != 60_000 || got[0].Late != 3 || got[0].States[1].Count != 1 {
		t.Fatalf("Close(122000) = %+v, want window 60000 carrying 3 late samples", got)
	}
	// Closing advances even over windows that had no samples.
	if w.Add(1, 100_000, 1) {
		t.Error("sample for closed, empty window 60000 accepted")
	}
	if w.Late() != 4 {
		t.Errorf("Late() = %d, want 4", w.Late())
	}
}

func TestCloseOrder(t *testing.T) {
	w := newWindows(t, Options{Width: time.Second}, gauges)
	for ts := int64(9999); ts >= 0; ts -= 1000 {
		w.Add(1, ts, float64(ts))
	}
	got := w.Close(100_000)
	if len(got) != 10 {
		t.Fatalf("%d windows, want 10", len(got))
	}
	for i, win := range got {
		if win.Start != int64(i)*1000 {
			t.Errorf("window %d starts at %d", i, win.Start)
		}
	}
}

func TestWindowStartNegative(t *testing.T) {
	w := newWindows(t, Options{Width: 10 * time.Second}, gauges)
	for _, tt := range []struct{ ts, want int64 }{{0, 0}, {9999, 0}, {10000, 10000}, {-1, -10000}, {-10000, -10000}} {
		if got := w.WindowStart(tt.ts); got != tt.want {
			t.Errorf("WindowStart(%d) = %d, want %d", tt.ts, got, tt.want)
		}
	}
}

// cycle feeds one window of 60 one-second samples for n series (half
// gauges, half counters), then closes and recycles it.
func cycle(w *Windows, n int, start int64, vals []float64) {
	for s := range 60 {
		ts := start + int64(s)*1000
		for id := range n {
			w.Add(uint32(id), ts, vals[(id+s)%len(vals)]+float64(s*id))
		}
	}
	for _, win := range w.Close(start + 60_000 + 2_000) {
		win.States[0].Quantile(0.99)
		w.Recycle(win)
	}
}

func halfCounters(id uint32) codec.Kind {
	if id%2 == 1 {
		return codec.Counter
	}
	return codec.Gauge
}

func TestSteadyCycleDoesNotAllocate(t *testing.T) {
	w := newWindows(t, DefaultOptions(), halfCounters)
	vals := testValues(60)
	start := int64(1_800_000_000_000)
	for range 3 { // warm up: states, sketches and maps reach their sizes
		cycle(w, 50, start, vals)
		start += 60_000
	}
	allocs := testing.AllocsPerRun(5, func() {
		cycle(w, 50, start, vals)
		start += 60_000
	})
	if allocs != 0 {
		t.Errorf("a steady window cycle allocates %v times, want 0", allocs)
	}
}
