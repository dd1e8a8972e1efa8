package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/agent"
	"github.com/edgepulse/edgepulse/edge/history"
	"github.com/edgepulse/edgepulse/edge/spool"
)

// seedConfig writes an agent config on this host's /proc with data_dir
// in a temporary directory, plus extra YAML.
func seedConfig(t *testing.T, extra string) (path, dataDir string) {
	t.Helper()
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("needs a Linux /proc")
	}
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "agent-seed")
	path = filepath.Join(dir, "seed.yaml")
	cfg := fmt.Sprintf("site: siteA\nhost: seed\nnats_url: nats://127.0.0.1:1\ndata_dir: %s\nmetrics_listen: \"off\"\n%s", dataDir, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, dataDir
}

// openSeeded opens the seeded history the way the agent does.
func openSeeded(t *testing.T, cfgPath string) *history.History {
	t.Helper()
	cfg, err := agent.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(cfg.DataDir, "spool"), MaxBytes: cfg.SpoolMaxBytes, DiskReserve: cfg.DiskReserve}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	h, err := history.New(sp.DB(), cfg.History, func(uint32) (string, []string, bool) { return "", nil, false }, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSeedHistory seeds 10 minutes into a real Badger spool, reopens it as
// the agent would and reads one gauge and one counter back: a point for
// every simulated second, the counter never decreasing, nothing late, and
// the stored bytes the history counted within its bound.
func TestSeedHistory(t *testing.T) {
	path, dataDir := seedConfig(t, "")
	r, err := seedHistory(path, 10*time.Minute, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if r.Series < 20 {
		t.Fatalf("seeded %d series; the collectors report hundreds on Linux", r.Series)
	}
	seconds := int(r.End.Sub(r.Start)/time.Second) + 1
	if seconds < 600 {
		t.Fatalf("seeded %v..%v: %d seconds, want ≥ 600", r.Start, r.End, seconds)
	}
	if r.History.Late != 0 || r.History.Errors != 0 || r.History.DiskDropped != 0 {
		t.Fatalf("seeding lost samples: %+v", r.History)
	}
	if want := uint64(r.Series * seconds); r.History.Samples != want {
		t.Fatalf("history wrote %d samples, want %d series × %d s = %d", r.History.Samples, r.Series, seconds, want)
	}
	if r.History.Bytes <= 0 || r.History.Bytes > r.MaxBytes {
		t.Fatalf("history bytes %d, want in (0, %d]", r.History.Bytes, r.MaxBytes)
	}
	if r.DiskByte <= 0 {
		t.Fatalf("data_dir %s occupies %d bytes", dataDir, r.DiskByte)
	}

	h := openSeeded(t, path)
	if st := h.Stats(); st.Bytes != r.History.Bytes || st.Minutes != r.History.Minutes {
		t.Fatalf("reopened history holds %d bytes in %d minutes; the seeder counted %d in %d",
			st.Bytes, st.Minutes, r.History.Bytes, r.History.Minutes)
	}
	// A reopened history reads the minutes before the current one from
	// disk (the current one is merged when it ends): query up to the end
	// of the minute before last's, which is on disk whenever the reopen
	// happened.
	end := r.End.Truncate(time.Minute).Add(-time.Minute - time.Millisecond)
	seconds = int(end.Sub(r.Start)/time.Second) + 1
	q := func(name string, m map[string]string) []codec.Point {
		resp, err := h.Query(codec.HistoryRequest{Name: name, Matchers: m, Start: r.Start.UnixMilli(), End: end.UnixMilli()}, time.Now())
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		if len(resp.Series) != 1 {
			t.Fatalf("query %s %v: %d series, want 1", name, m, len(resp.Series))
		}
		if resp.Series[0].Labels["job"] == "" {
			t.Fatalf("%s has no job label: %v (the agent labels every series)", name, resp.Series[0].Labels)
		}
		pts := resp.Series[0].Points
		if len(pts) != seconds {
			t.Fatalf("%s: %d points, want %d", name, len(pts), seconds)
		}
		for i, p := range pts {
			if want := r.Start.Add(time.Duration(i) * time.Second).UnixMilli(); p.TS != want {
				t.Fatalf("%s point %d at %d, want %d", name, i, p.TS, want)
			}
		}
		return pts
	}
	q("node_load1", nil)
	cpu := q("node_cpu_seconds_total", map[string]string{"cpu": "0", "mode": "idle"})
	for i := 1; i < len(cpu); i++ {
		if cpu[i].Value < cpu[i-1].Value {
			t.Fatalf("counter decreased at point %d: %v then %v", i, cpu[i-1].Value, cpu[i].Value)
		}
	}
}

// TestSeedHistoryByteBound seeds past a 1 MiB bound: the history drops its
// oldest minutes and stays within it, as over a day of running.
func TestSeedHistoryByteBound(t *testing.T) {
	path, _ := seedConfig(t, "history:\n  max_bytes: 1048576\n")
	r, err := seedHistory(path, 20*time.Minute, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxBytes != 1<<20 {
		t.Fatalf("bound %d, want the config's 1 MiB", r.MaxBytes)
	}
	if r.History.Bytes > r.MaxBytes || r.History.DroppedMinutes == 0 {
		t.Fatalf("history holds %d bytes (bound %d) after dropping %d minutes; 20 minutes of %d series exceed 1 MiB",
			r.History.Bytes, r.MaxBytes, r.History.DroppedMinutes, r.Series)
	}
}
