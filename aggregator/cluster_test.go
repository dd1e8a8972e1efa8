package aggregator

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/ring"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// hostsPerPartition returns, for each of the 64 partitions, a host name of
// site "s1" that the stream's partition(64,1,2) puts there.
func hostsPerPartition(t *testing.T) []string {
	t.Helper()
	hosts := make([]string, 64)
	left := 64
	for i := 0; left > 0; i++ {
		h := fmt.Sprintf("h%d", i)
		if p := ring.PartitionOfTokens(64, "s1", h); hosts[p] == "" {
			hosts[p] = h
			left--
		}
	}
	return hosts
}

func hostBatch(t *testing.T, host string, seq uint64) []byte {
	t.Helper()
	return keyframe(&codec.Batch{
		Agent: "s1/" + host, Site: "s1", Host: host, Seq: seq, Start: testBase + 60_000 + int64(seq)*60_000, Width: 60_000,
		Series:  []codec.Series{{ID: 0, Name: "node_load1"}},
		Rollups: []codec.Rollup{{ID: 0, Count: 60, Sum: 60, Min: 1, Max: 1, First: 1, Last: float64(seq)}},
	})
}

// checkOwnership fails unless every live aggregator consumes by the same
// stored assignment, whose members are want, within the quotas floor/ceil
// of 64/len(want), and consumes exactly its partitions of it: every
// partition consumed by exactly one member. It returns the assignment.
func checkOwnership(aggs map[string]*Aggregator, want []string) ([]string, error) {
	var assigned []string
	seen := make(map[int]string)
	for name, a := range aggs {
		st := a.Stats()
		if !slices.Equal(st.Members, want) {
			return nil, fmt.Errorf("%s consumes by an assignment of members %v, want %v", name, st.Members, want)
		}
		r := a.Ring()
		if assigned == nil {
			assigned = r.Assignment()
		} else if !slices.Equal(r.Assignment(), assigned) {
			return nil, fmt.Errorf("%s consumes by another assignment than its peers", name)
		}
		w := r.Partitions(name)
		if !slices.Equal(st.Owned, w) {
			return nil, fmt.Errorf("%s consumes %v, the assignment gives it %v", name, st.Owned, w)
		}
		if n := len(w); n < 64/len(want) || n > (64+len(want)-1)/len(want) {
			return nil, fmt.Errorf("%s is assigned %d partitions, want floor or ceil of 64/%d", name, n, len(want))
		}
		for _, p := range st.Owned {
			if other, dup := seen[p]; dup {
				return nil, fmt.Errorf("partition %d consumed by %s and %s", p, other, name)
			}
			seen[p] = name
		}
	}
	if len(seen) != 64 {
		return nil, fmt.Errorf("%d of 64 partitions consumed", len(seen))
	}
	return assigned, nil
}

// TestClusterHandoff runs three aggregators whose embedded hubs form one
// JetStream cluster: the stored assignment gives every partition to
// exactly one of them and batches on every partition are applied by its
// owner. Then the member leading the membership bucket crashes (Close, no
// graceful leave): after its heartbeat key
// expires the other two own all 64 partitions and apply new batches on the
// dead member's partitions; only the dead member's partitions moved (the
// stored assignment is rebalanced, not recomputed); every window is stored
// exactly once.
func TestClusterHandoff(t *testing.T) {
	if testing.Short() {
		t.Skip("3-node JetStream cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	names := []string{"agg-0", "agg-1", "agg-2"}
	aggs := startCluster(ctx, t, "ep-test", r.Addr, names, func(cfg *Config) {
		cfg.AckWait = 2 * time.Second
		if got := cfg.replicas(); got != 3 {
			t.Fatalf("replicas() = %d for a 3-node cluster, want 3", got)
		}
	})
	var assigned []string
	if err := harness.WaitFor(ctx, 30*time.Second, func() (err error) { assigned, err = checkOwnership(aggs, names); return err }); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(aggs["agg-0"].ClientURL() + "," + aggs["agg-1"].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	hosts := hostsPerPartition(t)
	publish := func(seq uint64) {
		for _, h := range hosts {
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := js.Publish(pctx, "tele.s1."+h, hostBatch(t, h, seq), jetstream.WithMsgID(fmt.Sprintf("s1/%s/%d", h, seq)))
			pcancel()
			if err != nil {
				t.Fatalf("publish %s seq %d: %v", h, seq, err)
			}
		}
	}
	// appliedOn sums, per partition, the batches applied by the members in aggs.
	appliedOn := func() map[int]uint64 {
		out := make(map[int]uint64)
		for _, a := range aggs {
			for p, n := range a.Stats().Partitions {
				out[p] += n
			}
		}
		return out
	}
	publish(1)
	err = harness.WaitFor(ctx, 30*time.Second, func() error {
		got := appliedOn()
		for p := range 64 {
			if got[p] != 1 {
				return fmt.Errorf("partition %d: %d batches applied, want 1", p, got[p])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Crash the member that leads the membership bucket's Raft group: the
	// hardest case, as heartbeats and assignment writes wait for a new
	// leader and watchers whose consumer sat on it stall.
	info, err := js.Stream(ctx, "KV_"+DefaultConfig().Membership.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	victim := info.CachedInfo().Cluster.Leader
	if aggs[victim] == nil {
		t.Fatalf("membership bucket leader %q is not a member", victim)
	}
	survivors := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == victim })
	dead := aggs[victim]
	deadParts := dead.Stats().Owned
	crashed := time.Now()
	dead.Close()
	delete(aggs, victim)
	var after []string
	if err := harness.WaitFor(ctx, 30*time.Second, func() (err error) { after, err = checkOwnership(aggs, survivors); return err }); err != nil {
		t.Fatal(err)
	}
	for p := range 64 {
		if assigned[p] != victim && after[p] != assigned[p] {
			t.Errorf("partition %d moved from %s to %s although only %s left", p, assigned[p], after[p], victim)
		}
	}
	t.Logf("the survivors own %s's %d partitions %v after the crash (it led the membership bucket)", victim, len(deadParts), time.Since(crashed).Round(10*time.Millisecond))
	before := appliedOn()
	publish(2)
	err = harness.WaitFor(ctx, 30*time.Second, func() error {
		got := appliedOn()
		for p := range 64 {
			if got[p] != before[p]+1 {
				return fmt.Errorf("partition %d (%s's: %t): %d batches applied by the survivors, want %d",
					p, victim, slices.Contains(deadParts, p), got[p], before[p]+1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every host's two windows are stored, each once.
	st := aggs[survivors[0]].Store()
	for _, h := range hosts {
		sid := store.SeriesID(store.Canon("node_load1", []string{"instance", h, "site", "s1"}))
		ends := []int64{testBase + 60_000 + 60_000 + 60_000, testBase + 60_000 + 2*60_000 + 60_000}
		copies, err := st.WindowCopies(ctx, "s1/"+h, sid, 60_000, ends)
		if err != nil || len(copies[0]) != 1 || len(copies[1]) != 1 {
			t.Fatalf("host %s: windows stored %v (%v), want each of seqs 1 and 2 once", h, copies, err)
		}
	}
}

// startCluster starts one member per name, routed to each other on ports
// of their own and writing to the Redis at redisAddr, with short
// membership timings; tune adjusts a member's config before it starts.
// The members run until the test ends.
func startCluster(ctx context.Context, t *testing.T, cluster, redisAddr string, names []string, tune func(*Config)) map[string]*Aggregator {
	t.Helper()
	routes := make([]string, len(names))
	ports := make([]int, len(names))
	for i := range ports {
		var err error
		if ports[i], err = harness.FreePort(); err != nil {
			t.Fatal(err)
		}
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	aggs := make(map[string]*Aggregator)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	for i, name := range names {
		cfg := DefaultConfig()
		cfg.Name = name
		cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, t.TempDir()
		cfg.NATS.Cluster = ClusterConfig{Name: cluster, Host: "127.0.0.1", Port: ports[i],
			Routes: slices.Delete(slices.Clone(routes), i, i+1)}
		cfg.Membership.Heartbeat, cfg.Membership.TTL = 250*time.Millisecond, 2*time.Second
		cfg.Redis.Addr = redisAddr
		cfg.HTTP = "127.0.0.1:0"
		if tune != nil {
			tune(&cfg)
		}
		wg.Go(func() {
			a, err := New(ctx, cfg, log.With("member", name))
			if err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				return
			}
			mu.Lock()
			aggs[name] = a
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, a := range aggs {
		t.Cleanup(a.Close)
		rctx, rcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { a.Run(rctx); close(done) }()
		t.Cleanup(func() { rcancel(); <-done })
	}
	return aggs
}
