package store

import (
	"context"
	"testing"
	"time"
)

// TestCapacity writes batches through Apply into a real Redis and reads
// the capacity back: windows written within retention, series, memory.
func TestCapacity(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	// Windows within retention, across an hour boundary, and one older
	// than retention that must not count.
	start := (time.Now().Add(-3*time.Hour).UnixMilli()/HourMs)*HourMs + 58*60_000
	var want int64
	for i := range 4 {
		b := batch(uint64(i+1), start+int64(i)*60_000, 1.5)
		if err := s.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		want += int64(len(b.Rollups))
	}
	old := batch(9, time.Now().Add(-s.opts.Retention-2*time.Hour).UnixMilli(), 1)
	old.Agent = "s1/old"
	if err := s.Apply(ctx, old); err != nil {
		t.Fatal(err)
	}
	c, err := s.Capacity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.StoredWindows != want {
		t.Errorf("StoredWindows = %d, want %d", c.StoredWindows, want)
	}
	if c.Series != 2 {
		t.Errorf("Series = %d, want 2", c.Series)
	}
	if c.UsedMemory <= 0 || c.Masters != 1 || c.MaxMemory != 0 {
		t.Errorf("memory: used %d max %d masters %d; want used > 0, max 0 (no maxmemory), 1 master", c.UsedMemory, c.MaxMemory, c.Masters)
	}
	if wantBPW := float64(c.UsedMemory) / float64(want); c.BytesPerWindow != wantBPW {
		t.Errorf("BytesPerWindow = %g, want %g", c.BytesPerWindow, wantBPW)
	}
	if c.MinTime != (start/HourMs)*HourMs || c.MaxTime != (start/HourMs+2)*HourMs {
		t.Errorf("MinTime, MaxTime = %d, %d; want the hours of %d and after", c.MinTime, c.MaxTime, start)
	}
	// The counters expire an hour after the retention.
	ttl := s.rdb.PTTL(ctx, s.windowCountKey(start/HourMs)).Val()
	if ttl <= s.opts.Retention || ttl > s.opts.Retention+time.Hour {
		t.Errorf("window counter TTL %v, want (retention, retention+1h]", ttl)
	}

	if err := s.rdb.ConfigSet(ctx, "maxmemory", "1gb").Err(); err != nil {
		t.Fatal(err)
	}
	if c, err = s.Capacity(ctx); err != nil || c.MaxMemory != 1<<30 {
		t.Errorf("with maxmemory 1gb: MaxMemory = %d, err %v", c.MaxMemory, err)
	}

	names, err := s.SeriesPerName(ctx)
	if err != nil || len(names) != 2 || names[0].Value != 1 {
		t.Errorf("SeriesPerName = %v, %v", names, err)
	}
	labels, err := s.ValuesPerLabel(ctx)
	if err != nil || len(labels) != 4 {
		t.Errorf("ValuesPerLabel = %v, %v; want cpu, instance, mode, site", labels, err)
	}
}

func TestParseMemoryInfo(t *testing.T) {
	used, maxMem, err := parseMemoryInfo("# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:2147483648\r\nmaxmemory_human:2.00G\r\n")
	if err != nil || used != 1<<20 || maxMem != 2<<30 {
		t.Fatalf("parseMemoryInfo = %d, %d, %v", used, maxMem, err)
	}
	for _, bad := range []string{"", "# Memory\r\nused_memory:12\r\n", "used_memory:x\r\nmaxmemory:0\r\n"} {
		if _, _, err := parseMemoryInfo(bad); err == nil {
			t.Errorf("parseMemoryInfo(%q) accepted", bad)
		}
	}
}
