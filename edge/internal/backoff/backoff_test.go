package backoff

import (
	"testing"
	"time"
)

func TestBackoffDoublesWithinJitterBoundsAndCaps(t *testing.T) {
	b := New(250*time.Millisecond, 10*time.Second)
	nominal := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, n := range nominal {
		if d := b.Next(); d < n/2 || d > n {
			t.Fatalf("pause %d = %v, want within [%v, %v]", i, d, n/2, n)
		}
	}
	b.Reset()
	if d := b.Next(); d < 125*time.Millisecond || d > 250*time.Millisecond {
		t.Fatalf("after Reset: %v, want within [125ms, 250ms]", d)
	}
}

// Agents that fail together must not retry together: 1000 fresh Backoffs
// (a fleet after one outage) give first pauses spread over the jitter
// range, not one value.
func TestBackoffSpreadsAFleet(t *testing.T) {
	const n = 1000
	seen := map[time.Duration]bool{}
	var lo, hi time.Duration = time.Hour, 0
	for range n {
		d := New(time.Second, time.Minute).Next()
		seen[d] = true
		lo, hi = min(lo, d), max(hi, d)
	}
	if len(seen) < n/2 || hi-lo < 400*time.Millisecond {
		t.Fatalf("%d distinct first pauses over [%v, %v]; want a spread over most of [500ms, 1s]", len(seen), lo, hi)
	}
}

func TestBackoffDegenerateBounds(t *testing.T) {
	if d := New(0, 0).Next(); d < 0 || d > time.Millisecond {
		t.Fatalf("New(0, 0).Next() = %v, want ≤ 1ms", d)
	}
	b := New(time.Second, time.Millisecond) // max below min: pauses stay at min
	for range 5 {
		if d := b.Next(); d < 500*time.Millisecond || d > time.Second {
			t.Fatalf("max < min: %v", d)
		}
	}
}
