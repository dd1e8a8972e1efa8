package codec

import (
	"errors"
	"math"
	"reflect"
	"testing"
)

func sampleBatch() *Batch {
	return &Batch{
		Agent: "site1/host1", Site: "site1", Host: "host1", Seq: 42,
		Start: 1_700_000_040_000, Width: 60_000, Late: 2,
		Series: []Series{
			{ID: 0, Name: "node_load1", Kind: Gauge},
			{ID: 1, Name: "node_cpu_seconds_total", Kind: Counter, Labels: []string{"cpu", "0", "mode", "idle"}},
		},
		Rollups: []Rollup{
			{ID: 0, Count: 60, Sum: 30.5, Min: 0.1, Max: 1.25, First: 0.2, Last: 0.75, Quantiles: []float64{0.5, 0.9, 1.2}},
			{ID: 1, Count: 59, Sum: 58.1, Min: 0.9, Max: 1.0, First: 1, Last: 123456.78},
		},
		Events: []Event{{
			Kind: Open, Incident: 1_700_000_050_000, Series: "cpu_busy_percent", TS: 1_700_000_050_000,
			Score: 0.93, Value: 99.5, Reason: "ewma,spot", Start: 1_700_000_020_000, Step: 1000,
			Context: []float64{3, 4, 99, 100},
		}},
	}
}

func TestRoundTrip(t *testing.T) {
	in := sampleBatch()
	p, err := Encode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(p)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip changed the batch:\n in  %+v\n out %+v", in, out)
	}
}

func TestRoundTripSpecialFloats(t *testing.T) {
	in := sampleBatch()
	in.Rollups[0].Min = math.Inf(-1)
	in.Rollups[0].Max = math.MaxFloat64
	p, _ := Encode(nil, in)
	out, err := Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsInf(out.Rollups[0].Min, -1) || out.Rollups[0].Max != math.MaxFloat64 {
		t.Fatalf("special floats not preserved: %+v", out.Rollups[0])
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := Encode(nil, sampleBatch())
	// The version is the first value: map header, "v" key (2 bytes), then a
	// positive fixint.
	wrongVersion := append([]byte(nil), good...)
	wrongVersion[3] = 7
	mutate := func(f func(*Batch)) []byte {
		b := sampleBatch()
		b.Version = Version
		f(b)
		p, err := b.MarshalMsg(nil) // bypass Encode's version stamping
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", good[:len(good)/2], ErrMalformed},
		{"one byte short", good[:len(good)-1], ErrMalformed},
		{"trailing bytes", append(append([]byte(nil), good...), 0xc0), ErrMalformed},
		{"not a map", []byte{0x93, 1, 2, 3}, ErrMalformed},
		{"wrong version", wrongVersion, ErrVersion},
		{"zero version", mutate(func(b *Batch) { b.Version = 0 }), ErrVersion},
		{"no agent", mutate(func(b *Batch) { b.Agent = "" }), ErrMalformed},
		{"seq zero", mutate(func(b *Batch) { b.Seq = 0 }), ErrMalformed},
		{"unaligned window", mutate(func(b *Batch) { b.Start++ }), ErrMalformed},
		{"zero width", mutate(func(b *Batch) { b.Width = 0 }), ErrMalformed},
		{"odd labels", mutate(func(b *Batch) { b.Series[1].Labels = []string{"cpu"} }), ErrMalformed},
		{"dangling rollup", mutate(func(b *Batch) { b.Rollups[1].ID = 9 }), ErrMalformed},
		{"duplicate rollup", mutate(func(b *Batch) { b.Rollups[1].ID = 0 }), ErrMalformed},
		{"duplicate series", mutate(func(b *Batch) { b.Series[1].ID = 0 }), ErrMalformed},
		{"bad quantiles", mutate(func(b *Batch) { b.Rollups[1].Quantiles = []float64{1} }), ErrMalformed},
		{"unknown kind", mutate(func(b *Batch) { b.Series[0].Kind = 9 }), ErrMalformed},
		{"event kind", mutate(func(b *Batch) { b.Events[0].Kind = 0 }), ErrMalformed},
		{"event step", mutate(func(b *Batch) { b.Events[0].Step = 0 }), ErrMalformed},
		{"event series", mutate(func(b *Batch) { b.Events[0].Series = "" }), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, %v; want error wrapping %v", b, err, tt.want)
			}
		})
	}
}

func TestMsgID(t *testing.T) {
	if got := MsgID("s1/h1", 7); got != "s1/h1/7" {
		t.Fatalf("MsgID = %q", got)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(nil, sampleBatch())
	f.Add(good)
	f.Add(good[:10])
	f.Add([]byte{0x81, 0xa1, 0x76, 0x01})
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := Decode(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		// Whatever decodes must re-encode and decode again.
		q, err := Encode(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(q); err != nil {
			t.Fatalf("re-decode of accepted batch failed: %v", err)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	in := sampleBatch()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = Encode(buf[:0], in)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecode(b *testing.B) {
	p, _ := Encode(nil, sampleBatch())
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}
