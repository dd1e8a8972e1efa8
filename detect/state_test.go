package detect

import (
	"runtime"
	"testing"
	"time"
)

// maxStateBytes is the per-series state budget of every detector.
const maxStateBytes = 2048

func TestStateSizePerSeries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rules = []Rule{{Name: "r", Series: "s", Op: OpGT, Threshold: 1, For: time.Second}}
	ewma := NewEWMA(cfg.EWMA)
	spot := NewSPOT(cfg.SPOT)
	dist := NewDist(cfg.Dist)
	dspot := NewDSPOT(cfg.SPOT)
	cusum := NewCUSUM(cfg.CUSUM)
	rule := NewRuleState(&cfg.Rules[0])
	inc := NewIncidentTracker(IncidentConfig{})
	series := NewSeries(&cfg, "s")
	const dim = 19
	pca := NewPCA(dim, cfg.PCA)
	// Warm every detector up so lazily grown state is counted.
	for i := 0; i < 3000; i++ {
		x := float64(i % 17)
		ewma.Push(x)
		spot.Push(x)
		dspot.Push(x)
		cusum.Push(x)
		dist.Push(x)
		rule.Push(time.Duration(i)*time.Second, x)
		series.Push(time.Duration(i)*time.Second, x)
		inc.Push(x / 17)
	}
	cases := []struct {
		name  string
		bytes int
	}{
		{"ewma", ewma.Footprint().StateBytes},
		{"spot", spot.Footprint().StateBytes},
		{"dspot", dspot.Footprint().StateBytes},
		{"cusum", cusum.Footprint().StateBytes},
		{"dist", dist.Footprint().StateBytes},
		{"rule", rule.Footprint().StateBytes},
		{"incident", inc.Footprint().StateBytes},
		{"series (all detectors, one rule)", series.Footprint().StateBytes},
		{"pca per series (d=19)", pca.Footprint().StateBytes / dim},
	}
	for _, c := range cases {
		t.Logf("%-34s %5d bytes", c.name, c.bytes)
		if c.bytes <= 0 || c.bytes > maxStateBytes {
			t.Errorf("%s: %d bytes of state per series, budget %d", c.name, c.bytes, maxStateBytes)
		}
	}
}

// Footprint must agree with what the allocator actually hands out: build
// many Series and compare the heap growth per series with Footprint.
func TestFootprintMatchesHeap(t *testing.T) {
	cfg := DefaultConfig()
	const n = 2000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	all := make([]Series, n)
	for i := range all {
		all[i] = NewSeries(&cfg, "s")
	}
	runtime.ReadMemStats(&after)
	perSeries := float64(after.TotalAlloc-before.TotalAlloc) / n
	claimed := float64(all[0].Footprint().StateBytes)
	t.Logf("heap per Series %.0f bytes, Footprint %v bytes", perSeries, claimed)
	// Allocator size classes round up; the claim may be lower but not by
	// more than a quarter, and the heap use must stay within budget.
	if claimed < 0.75*perSeries || claimed > 1.05*perSeries {
		t.Errorf("Footprint %v bytes vs %.0f bytes measured on the heap", claimed, perSeries)
	}
	if perSeries > maxStateBytes {
		t.Errorf("heap per Series %.0f bytes > %d", perSeries, maxStateBytes)
	}
	runtime.KeepAlive(all)
}
