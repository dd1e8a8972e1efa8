package redisha

import (
	"context"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestClusterReshard writes through a 3-master Redis Cluster (redis.addrs)
// while 1000 hash slots move from the first master to the second
// (redis-cli --cluster reshard: keys MIGRATEd, clients see ASK then
// MOVED), then reads every window back.
func TestClusterReshard(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rc, err := harness.StartRedisCluster(ctx, t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Stop()
	a := startAggregator(t, ctx, store.Options{Addrs: rc.Addrs})
	f := newFleet(t, 8, 20, 240, time.Now().Truncate(time.Minute))
	before, _ := rc.SlotsOf(ctx, rc.Addrs[1])
	resharded := make(chan error, 1)
	err = f.publish(ctx, a.ClientURL(), 0, f.windows, 15*time.Second, map[int]func(){
		f.windows / 4: func() {
			t0 := time.Now()
			err := rc.Reshard(ctx, rc.Addrs[0], rc.Addrs[1], 1000)
			t.Logf("reshard of 1000 slots %s → %s took %v", rc.Addrs[0], rc.Addrs[1], time.Since(t0).Round(time.Millisecond))
			resharded <- err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-resharded; err != nil {
		t.Fatalf("%v\n%s", err, rc.Logs())
	}
	after, _ := rc.SlotsOf(ctx, rc.Addrs[1])
	t.Logf("slots of %s: %d before, %d after", rc.Addrs[1], before, after)
	if after != before+1000 {
		t.Errorf("slots of %s: %d after the reshard, want %d", rc.Addrs[1], after, before+1000)
	}
	waitApplied(t, ctx, a, f.total(), 30*time.Second)
	f.verify(t, ctx, a.HTTPAddr(), 0)
}
