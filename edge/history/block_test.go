package history

import (
	"errors"
	"math"
	"testing"
)

func TestBlockRoundTrip(t *testing.T) {
	base := int64(1_700_000_040_000)
	step := func(n int, f func(i int) float64) ([]int64, []float64) {
		ts := make([]int64, n)
		vs := make([]float64, n)
		for i := range n {
			ts[i] = base + int64(i)*1000
			vs[i] = f(i)
		}
		return ts, vs
	}
	type tc struct {
		name     string
		ts       []int64
		vs       []float64
		maxBytes int // upper bound on the encoded size
	}
	var cases []tc
	add := func(name string, maxBytes, n int, f func(i int) float64) {
		ts, vs := step(n, f)
		cases = append(cases, tc{name, ts, vs, maxBytes})
	}
	add("constant", 2+60*2+2, 60, func(int) float64 { return 42 })
	add("counter", 2+60*4+2, 60, func(i int) float64 { return float64(1e9 + i*1234) })
	add("gauge float", 2+60*10, 60, func(i int) float64 { return 0.5 + 0.01*float64(i%7) })
	add("specials", 2+6*11, 6, func(i int) float64 {
		return []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, -1.5}[i]
	})
	add("huge ints", 2+4*11, 4, func(i int) float64 { return []float64{1 << 60, -(1 << 62), 1 << 52, -(1 << 52)}[i] })
	add("single", 8, 1, func(int) float64 { return 3.25 })
	cases = append(cases, tc{"empty", nil, nil, 1})
	cases = append(cases, tc{"jittered timestamps", []int64{base + 5, base + 1003, base + 2001, base + 2999, base + 59000},
		[]float64{1, 2, 3, 4, 5}, 30})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := appendBlock(nil, base, c.ts, c.vs)
			if len(b) > c.maxBytes {
				t.Errorf("encoded %d samples into %d bytes, want ≤ %d", len(c.ts), len(b), c.maxBytes)
			}
			ts, vs, err := decodeBlock(b, base, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != len(c.ts) {
				t.Fatalf("decoded %d samples, want %d", len(ts), len(c.ts))
			}
			for i := range ts {
				if ts[i] != c.ts[i] || math.Float64bits(vs[i]) != math.Float64bits(c.vs[i]) {
					t.Fatalf("sample %d: got (%d, %v), want (%d, %v)", i, ts[i], vs[i], c.ts[i], c.vs[i])
				}
			}
		})
	}
}

func TestBlockCorrupt(t *testing.T) {
	base := int64(60_000)
	good := appendBlock(nil, base, []int64{60_000, 61_000, 62_000}, []float64{1.5, 2.25, 1e9})
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"count too large", []byte{0x7f, 0, 0}},
		{"bad xor header", []byte{1, 0, 0x80 | 7<<4 | 2, 1, 2}},
		{"unknown tag", []byte{1, 0, 0x02}},
		{"int delta after float", []byte{2, 0, 0x80 | 0x08, 1, 2, 3, 4, 5, 6, 7, 9, 0, 0x01, 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := decodeBlock(c.b, base, nil, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeBlock = %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzDecodeBlock(f *testing.F) {
	f.Add(appendBlock(nil, 0, []int64{0, 1000, 2000}, []float64{1, 1, 2.5}))
	f.Add(appendBlock(nil, 0, []int64{5, 1005}, []float64{math.NaN(), 1e300}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, vs, err := decodeBlock(b, 0, nil, nil)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		b2 := appendBlock(nil, 0, ts, vs)
		ts2, vs2, err := decodeBlock(b2, 0, nil, nil)
		if err != nil {
			t.Fatalf("re-encoded block does not decode: %v", err)
		}
		for i := range ts {
			if ts[i] != ts2[i] || math.Float64bits(vs[i]) != math.Float64bits(vs2[i]) {
				t.Fatalf("sample %d changed: (%d,%v) → (%d,%v)", i, ts[i], vs[i], ts2[i], vs2[i])
			}
		}
	})
}
