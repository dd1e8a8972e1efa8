package collect

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkCollectProc is one full default cycle over this host's /proc
// and /sys: the agent's steady state.
func BenchmarkCollectProc(b *testing.B) {
	benchSet(b, "/proc")
}

func benchSet(b *testing.B, root string) {
	set, err := Default(slog.New(slog.DiscardHandler), root)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEmitter(NewRegistry(0))
	e.Reset(1)
	set.Collect(e) // intern series and fill caches outside the timing
	b.ReportAllocs()
	for b.Loop() {
		e.Reset(1)
		set.Collect(e)
	}
	b.ReportMetric(float64(len(e.Samples())), "series")
}

// BenchmarkCollector times each collector alone, on the fixture tree and
// on /proc.
func BenchmarkCollector(b *testing.B) {
	for _, src := range []struct{ name, root string }{{"fixture", fixtureRoot}, {"host", "/proc"}} {
		set, err := Default(slog.New(slog.DiscardHandler), src.root)
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range set.collectors {
			b.Run(src.name+"/"+c.Name(), func(b *testing.B) {
				e := NewEmitter(NewRegistry(0))
				e.Reset(1)
				_ = c.Collect(e)
				b.ReportAllocs()
				for b.Loop() {
					e.Reset(1)
					_ = c.Collect(e)
				}
			})
		}
	}
}

// BenchmarkProcesses sweeps the number of pids: the processes collector is
// the only one whose cost grows with the host's load (3 syscalls per pid).
func BenchmarkProcesses(b *testing.B) {
	line, err := os.ReadFile(filepath.Join(fixtureRoot, "77", "stat"))
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint("pids=", n), func(b *testing.B) {
			root := b.TempDir()
			for pid := 1; pid <= n; pid++ {
				dir := filepath.Join(root, fmt.Sprint(pid))
				if err := os.Mkdir(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "stat"), line, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			c := NewProcessesCollector(root)
			e := NewEmitter(NewRegistry(0))
			b.ReportAllocs()
			for b.Loop() {
				e.Reset(1)
				if err := c.Collect(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
