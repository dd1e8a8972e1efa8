package pathlat

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSitesBounded: the site label takes at most MaxSites values; the
// rest are recorded as _other and counted.
func TestSitesBounded(t *testing.T) {
	r := New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(r)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range MaxSites + 5 {
		r.Frame(fmt.Sprintf("s%d", i), t0, t0.Add(time.Second), t0.Add(3*time.Second), t0.Add(3100*time.Millisecond))
	}
	if n := testutil.CollectAndCount(r, "edgepulse_path_publish_to_applied_seconds"); n != MaxSites+1 {
		t.Fatalf("%d site series, want %d (MaxSites and _other)", n, MaxSites+1)
	}
	if v := testutil.ToFloat64(r.overflow); v != 5 {
		t.Fatalf("overflow %v, want 5", v)
	}
	// The window ended 3 s before the frame was applied: above 2.5 s,
	// within 5 s.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "edgepulse_path_window_end_to_applied_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() != Other {
				continue
			}
			found = true
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				switch b.GetUpperBound() {
				case 2.5:
					if b.GetCumulativeCount() != 0 {
						t.Errorf("le=2.5: %d, want 0", b.GetCumulativeCount())
					}
				case 5:
					if b.GetCumulativeCount() != 5 {
						t.Errorf("le=5: %d, want 5", b.GetCumulativeCount())
					}
				}
			}
		}
	}
	if !found {
		t.Fatal("no _other histogram")
	}
}
