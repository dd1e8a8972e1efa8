package collect

import (
	"log/slog"
	"os"
	"strings"
	"testing"
)

const fixtureRoot = "testdata/proc"

// collectOnce runs the default set over the fixture tree and returns the
// value of every series by its Prometheus rendering.
func collectOnce(t *testing.T, root string) (map[string]float64, *Set) {
	t.Helper()
	set, err := Default(slog.New(slog.NewTextHandler(os.Stderr, nil)), root)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(0)
	e := NewEmitter(reg)
	e.Reset(1000)
	set.Collect(e)
	got := make(map[string]float64)
	for _, s := range e.Samples() {
		if s.TS != 1000 {
			t.Fatalf("sample ts %d, want 1000", s.TS)
		}
		got[reg.Desc(s.Series).String()] = s.Value
	}
	return got, set
}

func TestDefaultOnFixture(t *testing.T) {
	got, set := collectOnce(t, fixtureRoot)
	want := map[string]float64{
		`node_load1`:  1.25,
		`node_load5`:  0.75,
		`node_load15`: 0.5,
		`node_cpu_seconds_total{cpu="0",mode="user"}`:   150, // 15000 jiffies / USER_HZ 100
		`node_cpu_seconds_total{cpu="1",mode="idle"}`:   2500,
		`node_cpu_seconds_total{cpu="1",mode="system"}`: 101,
		`node_memory_MemTotal_bytes`:                    8000000 * 1024,
		`node_memory_MemAvailable_bytes`:                4000000 * 1024,
		`node_memory_Active_anon_bytes`:                 2000000 * 1024,
		`node_memory_HugePages_Total_bytes`:             0,
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("series %s missing", k)
			continue
		}
		if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
	for name, n := range set.Failures() {
		if n != 0 {
			t.Errorf("source %s failed %d times on the fixture", name, n)
		}
	}
}

func TestMissingSourceIsCountedAndOthersGoOn(t *testing.T) {
	root := t.TempDir()
	b, err := os.ReadFile(fixtureRoot + "/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root+"/loadavg", b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, set := collectOnce(t, root)
	if got["node_load1"] != 1.25 {
		t.Fatalf("loadavg not collected when other sources are missing: %v", got)
	}
	f := set.Failures()
	if f["stat"] != 1 || f["meminfo"] != 1 || f["loadavg"] != 0 {
		t.Fatalf("failures = %v, want stat and meminfo counted once", f)
	}
}

func TestParseMeminfoErrors(t *testing.T) {
	for _, in := range []string{"MemTotal 12 kB\n", "MemTotal: x kB\n", "MemTotal: 1 MB\n", "MemTotal:\n"} {
		err := parseMeminfo(strings.NewReader(in), func([]byte, float64) {})
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseMeminfo(%q) = %v, want an error naming line 1", in, err)
		}
	}
}

func TestCardinalityLimit(t *testing.T) {
	reg := NewRegistry(2)
	e := NewEmitter(reg)
	e.Reset(1)
	e.Gauge("a", 1)
	e.Gauge("b", 1)
	e.Gauge("c", 1)
	e.Gauge("a", 2)
	if len(e.Samples()) != 3 || reg.Rejected() != 1 || reg.Len() != 2 {
		t.Fatalf("samples %d rejected %d len %d; want 3, 1, 2", len(e.Samples()), reg.Rejected(), reg.Len())
	}
}

func TestLabelsSortedAndInternedOnce(t *testing.T) {
	reg := NewRegistry(0)
	e := NewEmitter(reg)
	e.Reset(1)
	e.Gauge("m", 1, "z", "1", "a", "2")
	e.Gauge("m", 2, "z", "1", "a", "2")
	if reg.Len() != 1 {
		t.Fatalf("registry has %d series, want 1", reg.Len())
	}
	if got := reg.Desc(0).String(); got != `m{a="2",z="1"}` {
		t.Fatalf("desc = %s", got)
	}
}

func BenchmarkCollectFixture(b *testing.B) {
	set, err := Default(slog.New(slog.DiscardHandler), fixtureRoot)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEmitter(NewRegistry(0))
	b.ReportAllocs()
	for b.Loop() {
		e.Reset(1)
		set.Collect(e)
	}
}
