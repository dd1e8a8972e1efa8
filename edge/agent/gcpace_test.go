package agent

import "testing"

func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		live, headroom int64
		want           int
	}{
		{0, 4 << 20, 100},
		{2 << 20, 4 << 20, 100},   // small heap: the runtime's default
		{13 << 20, 4 << 20, 30},   // the measured agent
		{64 << 20, 4 << 20, 10},   // never below 10
		{7 << 20, 1 << 20, 14},    // the agent with 512 KiB memtables
		{16 << 20, 16 << 20, 100}, // headroom ≥ live
	} {
		if got := gcPercent(c.live, c.headroom); got != c.want {
			t.Errorf("gcPercent(%d, %d) = %d, want %d", c.live, c.headroom, got, c.want)
		}
	}
}
