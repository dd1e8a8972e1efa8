package backhaul

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/agent"
	"github.com/edgepulse/edgepulse/edge/collect"
)

// collectOnce reads a tree with the agent's collectors and returns the
// values by series text, with the sources that failed.
func collectOnce(t *testing.T, set *collect.Set, reg *collect.Registry, e *collect.Emitter, counters map[string]bool) map[string]float64 {
	t.Helper()
	e.Reset(time.Now().UnixMilli())
	set.Collect(e)
	out := map[string]float64{}
	for _, s := range e.Samples() {
		d := reg.Desc(s.Series)
		out[d.String()] = s.Value
		counters[d.String()] = d.Kind == codec.Counter
	}
	return out
}

// TestSyntheticHost checks that a synthetic tree gives the agent's
// collectors ≥ 400 series without a source error, that busy devices'
// counters move while idle ones stay still, and that counters never go
// backwards.
func TestSyntheticHost(t *testing.T) {
	tmpl, err := LoadTemplates("/proc", "../../edge/collect/testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	h, err := NewHost(filepath.Join(dir, "h1"), 1, 42, 10*time.Minute, tmpl, now)
	if err != nil {
		t.Fatal(err)
	}
	set, err := collect.DefaultWith(slog.New(slog.DiscardHandler), h.Proc, agent.DefaultCollectOptions())
	if err != nil {
		t.Fatal(err)
	}
	reg := collect.NewRegistry(0)
	e := collect.NewEmitter(reg)
	counters := map[string]bool{}
	first := collectOnce(t, set, reg, e, counters)
	if len(first) < 400 {
		t.Errorf("synthetic host has %d series, want ≥ 400", len(first))
	}
	var last map[string]float64
	for s := 1; s <= 30; s++ {
		if err := h.Step(now.Add(time.Duration(s) * time.Second)); err != nil {
			t.Fatal(err)
		}
		cur := collectOnce(t, set, reg, e, counters)
		for k, v := range cur {
			if prev, ok := last[k]; ok && v < prev && counters[k] {
				t.Errorf("counter %s went back from %v to %v", k, prev, v)
			}
		}
		last = cur
	}
	for src, n := range set.Failures() {
		if n > 0 {
			t.Errorf("source %s failed %d times", src, n)
		}
	}
	for _, c := range []struct {
		series string
		moves  bool
	}{
		{`node_network_receive_bytes_total{device="eth0"}`, true},
		{`node_network_receive_bytes_total{device="eth1"}`, false},
		{`node_disk_written_bytes_total{device="sda"}`, true},
		{`node_disk_written_bytes_total{device="sdb"}`, false},
		{`node_cpu_seconds_total{cpu="0",mode="user"}`, true},
		{`node_vmstat_pgfault`, true},
	} {
		a, ok1 := first[c.series]
		b, ok2 := last[c.series]
		if !ok1 || !ok2 {
			t.Errorf("series %s missing", c.series)
			continue
		}
		if (a != b) != c.moves {
			t.Errorf("%s: %v → %v, want moving=%v", c.series, a, b, c.moves)
		}
	}
	t.Logf("%d series", len(last))
}
