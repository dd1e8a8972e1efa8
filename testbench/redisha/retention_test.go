package redisha

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestShortRetentionFlat writes four hours of windows at accelerated data
// time, ending now, through a store with a one-hour retention (both
// tiers) and checks that Redis memory stays flat once a retention period
// has been written.
//
// Redis expires on its wall clock and the windows carry past timestamps;
// a store that expires a block at its end + retention in data time holds,
// at any moment, only the windows of [now−1h, now). So used_memory (after
// a SCAN of every key, which expires what is due at once) is read at
//
//	A  first+1h  one retention period written
//	B  now−1h    two more hours written, all of them past their expiry
//	C  now       the retained hour written
//
// and (B−A)/(C−B), what writing past the first retention period added
// relative to one retention period's memory, must stay within 5 % (a store
// that keeps everything adds 200 %). The minute tier's chunks and open
// logs with their indexes (MEMORY USAGE of every <p>c:, <p>o: and <p>oi: key) are what is measured: the hourly tier keeps
// day blocks for its own retention and grows by design until then, and
// the index and decoder states do not grow with windows. make capacity
// measures used_memory at the scale of a fleet.
func TestShortRetentionFlat(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rd, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer rdb.Close()
	a := startAggregator(t, ctx, store.Options{Addr: rd.Addr, Retention: time.Hour, HourlyRetention: time.Hour})
	f := newFleet(t, 10, 100, 240, time.Now().Truncate(time.Hour))
	mem0, err := minuteTierBytes(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	var mem [3]int64
	published := 0
	for k, to := range []int{60, 180, 240} {
		from := []int{0, 60, 180}[k]
		if err := f.publish(ctx, a.ClientURL(), from, to, 0, nil); err != nil {
			t.Fatal(err)
		}
		published += f.agents * (to - from)
		waitApplied(t, ctx, a, published, 30*time.Second)
		if mem[k], err = minuteTierBytes(ctx, rdb); err != nil {
			t.Fatal(err)
		}
		keys, _ := rdb.DBSize(ctx).Result()
		t.Logf("after window %d (data %s): used_memory %+.1f kB, %d keys", to,
			f.first.Add(time.Duration(to)*time.Minute).Format(time.TimeOnly), float64(mem[k]-mem0)/1e3, keys)
	}
	growth := float64(mem[1]-mem[0]) / float64(mem[2]-mem[1]) * 100
	t.Logf("A %.1f kB, B %.1f kB, C %.1f kB above the empty Redis; growth after one retention period (B−A)/(C−B) %.1f %%; %.1f B per retained window",
		float64(mem[0]-mem0)/1e3, float64(mem[1]-mem0)/1e3, float64(mem[2]-mem0)/1e3, growth,
		float64(mem[2]-mem0)/float64(f.agents*f.series*60))
	if growth > 5 {
		t.Errorf("memory grew by %.1f %% of a retention period's memory while writing past the retention", growth)
	}
}

// minuteTierBytes sums MEMORY USAGE over the minute tier's keys, sealed
// chunks, open logs and their indexes (the SCAN also expires the keys
// that are due).
func minuteTierBytes(ctx context.Context, rdb *redis.Client) (int64, error) {
	var total int64
	for _, pattern := range []string{"ep:c:*", "ep:o:*", "ep:oi:*"} {
		it := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for it.Next(ctx) {
			n, err := rdb.MemoryUsage(ctx, it.Val()).Result()
			if err == redis.Nil {
				continue
			}
			if err != nil {
				return 0, err
			}
			total += n
		}
		if err := it.Err(); err != nil {
			return 0, err
		}
	}
	return total, nil
}
