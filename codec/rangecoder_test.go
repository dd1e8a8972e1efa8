package codec

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRangeCoderRoundTrip codes integers of every size, signed and
// unsigned, in several contexts, and reads them back.
func TestRangeCoderRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var vals []int64
	for range 5000 {
		switch rng.IntN(4) {
		case 0:
			vals = append(vals, int64(rng.IntN(7))-3)
		case 1:
			vals = append(vals, int64(rng.NormFloat64()*1000))
		default:
			vals = append(vals, int64(rng.Uint64()>>uint(rng.IntN(64))))
		}
	}
	vals = append(vals, 0, 1, -1, math.MaxInt64, math.MinInt64+1, 1<<33, 1<<32, -(1 << 33))
	table := func() []prob { return slices.Clone(priorTable()) }
	var enc rcEncoder
	enc.reset(nil)
	m := table()
	for i, v := range vals {
		mo := intModel{m, (i % 5) * intModelLen}
		mo.putInt(&enc, v)
		mo.putUint(&enc, uint64(v))
		enc.direct(uint64(v), i%65)
	}
	out := enc.finish()
	var dec rcDecoder
	dec.reset(out)
	m = table()
	for i, v := range vals {
		mo := intModel{m, (i % 5) * intModelLen}
		if got := mo.getInt(&dec); got != v {
			t.Fatalf("value %d: getInt %d, want %d", i, got, v)
		}
		if got := mo.getUint(&dec); got != uint64(v) {
			t.Fatalf("value %d: getUint %d, want %d", i, got, uint64(v))
		}
		mask := uint64(1)<<uint(i%65) - 1
		if i%65 == 64 {
			mask = math.MaxUint64
		}
		if got := dec.direct(i % 65); got != uint64(v)&mask {
			t.Fatalf("value %d: direct %d bits %#x, want %#x", i, i%65, got, uint64(v)&mask)
		}
	}
	if dec.over != 0 || len(dec.p) != 0 {
		t.Fatalf("decoder read %d bytes past the end, left %d", dec.over, len(dec.p))
	}
	t.Logf("%d values, %d bytes", len(vals), len(out))
}

// TestRangeCoderTruncated: a cut stream decodes to garbage the reader
// flags, without panicking or looping.
func TestRangeCoderTruncated(t *testing.T) {
	var enc rcEncoder
	enc.reset(nil)
	m := slices.Clone(priorTable())
	for i := range 200 {
		intModel{m, 0}.putInt(&enc, int64(i*i))
	}
	out := enc.finish()
	for cut := range len(out) {
		r := &modelReader{m: slices.Clone(priorTable())}
		r.rc.reset(out[:cut])
		for range 200 {
			intModel{r.m, 0}.getInt(&r.rc)
		}
		if r.done() == nil {
			t.Fatalf("stream cut at %d of %d bytes decoded without an error", cut, len(out))
		}
	}
}

// TestWirePriorLayout: the embedded prior fits the model's layout (else
// every frame would start from flat probabilities).
func TestWirePriorLayout(t *testing.T) {
	if want := 2 * nCtx * intModelLen; len(wirePrior) != want {
		t.Fatalf("codec/wireprior.bin is %d bytes, the model needs %d: regenerate it (go run ./testbench/gendict -prior DIR) and bump wirePriorID", len(wirePrior), want)
	}
	flat := 0
	for _, p := range priorTable() {
		if p == probHalf {
			flat++
		}
	}
	t.Logf("%d of %d probabilities untouched by training", flat, len(priorTable()))
}
