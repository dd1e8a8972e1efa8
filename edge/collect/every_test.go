package collect

import (
	"errors"
	"testing"
)

// countingSource reports its run count as a gauge, and a second series
// only on its first run; it fails when fail is set.
type countingSource struct {
	runs int
	fail error
}

func (c *countingSource) Name() string { return "counting" }

func (c *countingSource) Collect(e *Emitter) error {
	c.runs++
	e.Gauge("runs", float64(c.runs))
	if c.runs == 1 {
		e.Gauge("first_only", 1)
	}
	return c.fail
}

func TestEveryRepeatsBetweenReads(t *testing.T) {
	reg := NewRegistry(0)
	e := NewEmitter(reg)
	src := &countingSource{}
	w := Every(src, 3)
	type got struct {
		runs   int
		values []float64
	}
	var seen []got
	for cycle := int64(0); cycle < 7; cycle++ {
		ts := 1000 * (cycle + 1)
		e.Reset(ts)
		if err := w.Collect(e); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		var vs []float64
		for _, s := range e.Samples() {
			if s.TS != ts {
				t.Fatalf("cycle %d: sample stamped %d, want the cycle's %d", cycle, s.TS, ts)
			}
			vs = append(vs, s.Value)
		}
		seen = append(seen, got{src.runs, vs})
		// Repeated series stay alive: nothing reported this cycle is swept.
		if swept := reg.Sweep(ts); len(swept) != 0 && cycle < 2 {
			t.Fatalf("cycle %d: swept %v, which were just reported", cycle, swept)
		}
	}
	want := []got{
		{1, []float64{1, 1}}, {1, []float64{1, 1}}, {1, []float64{1, 1}},
		{2, []float64{2}}, {2, []float64{2}}, {2, []float64{2}},
		{3, []float64{3}},
	}
	for i := range want {
		if seen[i].runs != want[i].runs || len(seen[i].values) != len(want[i].values) {
			t.Fatalf("cycle %d: runs %d values %v, want %d %v", i, seen[i].runs, seen[i].values, want[i].runs, want[i].values)
		}
		for j := range want[i].values {
			if seen[i].values[j] != want[i].values[j] {
				t.Fatalf("cycle %d: values %v, want %v", i, seen[i].values, want[i].values)
			}
		}
	}
}

func TestEveryRepeatsTheError(t *testing.T) {
	e := NewEmitter(NewRegistry(0))
	boom := errors.New("boom")
	w := Every(&countingSource{fail: boom}, 2)
	for cycle := range 2 {
		e.Reset(int64(cycle + 1))
		if err := w.Collect(e); !errors.Is(err, boom) {
			t.Fatalf("cycle %d: err %v, want the last read's %v", cycle, err, boom)
		}
	}
}

func TestEveryOneIsTheCollector(t *testing.T) {
	src := &countingSource{}
	if Every(src, 1) != Collector(src) {
		t.Fatal("Every(c, 1) wrapped c; want c itself")
	}
}
