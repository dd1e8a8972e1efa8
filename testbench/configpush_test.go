package testbench

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator"
	"github.com/edgepulse/edgepulse/edge/agent"
	"github.com/edgepulse/edgepulse/testbench/harness"
	"github.com/edgepulse/edgepulse/testbench/proxy"
)

// TestConfigWatchBackhaul measures what following the configuration
// bucket costs the site uplink: a hub nats-server with JetStream holding
// the bucket and answering config requests with the aggregator's own code
// (aggregator.EnsureConfigBucket, aggregator.ServeConfig), a leaf node
// connected to it through the counting proxy, and an agent whose window is
// an hour (so it publishes nothing during the test) following its keys.
// It prints the bytes of an idle period and of one pushed change, and
// fails if the idle watch costs more than the leaf link's own keepalive —
// which a consumer-based watch (idle heartbeats) would.
//
//	go test -run TestConfigWatchBackhaul -v ./testbench/
func TestConfigWatchBackhaul(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for 30 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	// The leaf port is bound by the server (-1) and read back from its
	// options once it is ready.
	hubOpts := &server.Options{ServerName: "hub", Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: filepath.Join(dir, "js"), NoSigs: true, LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: -1}}
	hubSrv, err := server.NewServer(hubOpts)
	if err != nil {
		t.Fatal(err)
	}
	go hubSrv.Start()
	defer hubSrv.Shutdown()
	if !hubSrv.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}
	leafPort := hubOpts.LeafNode.Port
	hub, err := nats.Connect(hubSrv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	js, _ := jetstream.New(hub)
	if err := aggregator.EnsureConfigBucket(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := aggregator.ServeConfig(ctx, hub, js, log); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, aggregator.ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	idle, change := measureConfigWatch(t, ctx, fmt.Sprintf("127.0.0.1:%d", leafPort), kv, 30*time.Second)
	t.Logf("CONFIGPUSH idle_s=30 idle_up=%d idle_down=%d change_up=%d change_down=%d", idle.Up, idle.Down, change.Up, change.Down)
	if idle.Up+idle.Down > 200 {
		t.Errorf("an idle config watch cost %d B up and %d B down in 30 s over the leaf link, want no more than keepalives", idle.Up, idle.Down)
	}
}

// TestAggregatorIdleLeafBackhaul is the same measurement with the real
// aggregator as the hub. It found hub→leaf traffic of several hundred KB/s
// on an idle link: the membership loop created KV watchers (and listed the
// bucket) on every heartbeat, each reply subscription announced to every
// leaf as LS+/LS-. Membership now follows one watcher; an idle link is
// silent. EDGEPULSE_AGG_IDLE sets the idle period (default 10s).
func TestAggregatorIdleLeafBackhaul(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	idleFor := 10 * time.Second
	if d, err := time.ParseDuration(os.Getenv("EDGEPULSE_AGG_IDLE")); err == nil {
		idleFor = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	rd, err := harness.StartRedis(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Stop()
	acfg := aggregator.DefaultConfig()
	acfg.Name = "hub-1"
	acfg.NATS.Port, acfg.NATS.LeafPort = -1, -1
	acfg.NATS.StoreDir = filepath.Join(dir, "js")
	acfg.Redis.Addr = rd.Addr
	acfg.HTTP = "127.0.0.1:0"
	if p := os.Getenv("EDGEPULSE_AGG_MONITOR"); p != "" {
		fmt.Sscan(p, &acfg.NATS.HTTPPort) // hub monitoring (/leafz, /subsz) for looking into the traffic
	}
	agg, err := aggregator.New(ctx, acfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer agg.Close()
	go agg.Run(ctx)
	hub, err := nats.Connect(agg.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	js, _ := jetstream.New(hub)
	kv, err := js.KeyValue(ctx, aggregator.ConfigBucket)
	if err != nil {
		t.Fatal(err)
	}
	lu, _ := url.Parse(agg.LeafURL())
	idle, change := measureConfigWatch(t, ctx, lu.Host, kv, idleFor)
	t.Logf("AGGIDLE idle=%v idle_up=%d idle_down=%d change_up=%d change_down=%d", idleFor, idle.Up, idle.Down, change.Up, change.Down)
	if idle.Up+idle.Down > 200 {
		t.Errorf("an idle leaf link to the aggregator carried %d B up and %d B down in %v", idle.Up, idle.Down, idleFor)
	}
}

// measureConfigWatch connects a leaf node to hubLeaf through a counting
// proxy, runs an agent (one-hour window: silent) on it, and returns the
// proxy's bytes during an idle period and during one pushed change.
func measureConfigWatch(t *testing.T, ctx context.Context, hubLeaf string, kv jetstream.KeyValue, idle time.Duration) (idleBytes, changeBytes proxy.Stats) {
	t.Helper()
	dir := t.TempDir()
	if _, err := kv.PutString(ctx, "_all", "detect: {context: 10}\n"); err != nil {
		t.Fatal(err)
	}
	px, err := proxy.New("127.0.0.1:0", hubLeaf)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	remote, _ := url.Parse("nats-leaf://" + px.Addr())
	leaf, err := server.NewServer(&server.Options{ServerName: "leaf", Host: "127.0.0.1", Port: -1, NoSigs: true,
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{remote},
			Compression: server.CompressionOpts{Mode: server.CompressionS2Best}}}}})
	if err != nil {
		t.Fatal(err)
	}
	go leaf.Start()
	defer leaf.Shutdown()
	if !leaf.ReadyForConnections(10 * time.Second) {
		t.Fatal("leaf not ready")
	}
	cfg := agent.DefaultConfig()
	cfg.Site, cfg.Host = "siteA", "hostA"
	cfg.NATSURL = leaf.ClientURL()
	cfg.Window, cfg.Lateness = time.Hour, time.Second
	cfg.ProcRoot, _ = filepath.Abs("testdata/proc")
	cfg.DataDir = filepath.Join(dir, "agent")
	cfg.MetricsListen = "off"
	a, err := agent.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	actx, acancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Run(actx); close(done) }()
	defer func() { acancel(); <-done }()
	err = harness.WaitFor(ctx, 30*time.Second, func() error {
		if st := a.Status().Config; st.Applies != 1 {
			return fmt.Errorf("initial layers not applied: %+v", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // settling before a measurement, not for correctness
	s0 := px.Stats()
	time.Sleep(idle) // the measurement period
	s1 := px.Stats()
	idleBytes = s1.Sub(s0)

	if _, err := kv.PutString(ctx, "siteA.hostA", "detect: {enabled: false}\n"); err != nil {
		t.Fatal(err)
	}
	err = harness.WaitFor(ctx, 10*time.Second, func() error {
		if st := a.Status().Config; st.Applies != 2 {
			return fmt.Errorf("change not applied: %+v", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The change's bytes (its notification, the agent's request and the
	// answer): until the counters stop moving, at most 5 s.
	var last proxy.Stats
	for i := 0; i < 10; i++ {
		time.Sleep(500 * time.Millisecond)
		changeBytes = px.Stats().Sub(s1)
		if changeBytes.Up == last.Up && changeBytes.Down == last.Down {
			break
		}
		last = changeBytes
	}
	return idleBytes, changeBytes
}
