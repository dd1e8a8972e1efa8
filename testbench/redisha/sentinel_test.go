package redisha

import (
	"context"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// TestSentinelFailover writes through Sentinel (redis.master_name,
// redis.sentinel_addrs), kills the master with SIGKILL a third of the way
// through the ingest, and checks that the sentinels promote the replica,
// that the same aggregator goes on writing to it without a restart and
// that every window is stored exactly once.
//
// Replication is asynchronous: writes the old master acknowledged in its
// last moments may never reach the replica. The store must still end with
// every window (frames are acknowledged to JetStream only after their
// write, and a store that cannot prove a frame durable re-applies it), so
// the test fails on any missing window, and logs what it saw.
func TestSentinelFailover(t *testing.T) {
	needRedis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rs, err := harness.StartRedisSentinel(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Stop()
	a := startAggregator(t, ctx, store.Options{MasterName: rs.MasterName, SentinelAddrs: rs.SentinelAddrs})
	f := newFleet(t, 8, 20, 240, time.Now().Truncate(time.Minute))
	failedOver := make(chan error, 1)
	err = f.publish(ctx, a.ClientURL(), 0, f.windows, 15*time.Second, map[int]func(){
		f.windows / 3: func() {
			old := rs.Master.Addr
			t0 := time.Now()
			rs.KillMaster()
			now, err := rs.WaitFailover(ctx, old, 30*time.Second)
			t.Logf("master %s killed; sentinels promoted %s after %v", old, now, time.Since(t0).Round(time.Millisecond))
			failedOver <- err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-failedOver; err != nil {
		t.Fatalf("failover: %v\n%s", err, rs.Logs())
	}
	waitApplied(t, ctx, a, f.total(), 45*time.Second)
	f.verify(t, ctx, a.HTTPAddr(), 0)
}
