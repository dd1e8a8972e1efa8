// Command failover measures the aggregator tier's partition handoff: three
// edgepulse-aggregator processes whose hubs form one JetStream cluster,
// simulated agents publishing 1 s windows straight into the cluster, one
// aggregator killed with SIGKILL and restarted, and every published
// (agent, window) checked in Redis.
//
//	go run ./testbench/failover [-agents 200] [-series 20] [-keep] [-kill-bucket-leader] [-cross-hour]
//
// It ends with
//
//	RESULT lost=<n> duplicates=<n> takeover_s=<x> moved_partitions=<n> expected_moved=<n>
//
// and exits 1 unless lost and duplicates are 0 and the takeover took at
// most the membership TTL plus 5 s. takeover_s runs from the kill until
// every partition the killed member owned has had a batch applied by a
// survivor; moved_partitions counts the partitions whose owner differs
// before and after the kill, expected_moved those the killed member owned
// (the least any assignment must move). -kill-bucket-leader kills the
// member leading the membership bucket's Raft group (heartbeats and
// assignment writes wait for a new leader, watchers on it stall) instead
// of the third member.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/ring"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

const (
	members    = 3
	partitions = 64
	heartbeat  = 2 * time.Second
	ttl        = 10 * time.Second
	windowMS   = 1000
)

func main() {
	agents := flag.Int("agents", 200, "simulated agents")
	series := flag.Int("series", 20, "series per agent")
	before := flag.Duration("before", 15*time.Second, "publishing before the kill")
	down := flag.Duration("down", 10*time.Second, "publishing after the takeover, before the restart")
	after := flag.Duration("after", 15*time.Second, "publishing after the restarted member rejoined")
	keep := flag.Bool("keep", false, "keep the working directory (logs, stores)")
	leader := flag.Bool("kill-bucket-leader", false, "kill the member leading the membership bucket's Raft group instead of the third")
	crossHour := flag.Bool("cross-hour", false, "stamp the windows so that an hour of the store closes 3 windows after the kill")
	flag.Parse()
	if err := run(*agents, *series, *before, *down, *after, *keep, *leader, *crossHour); err != nil {
		fmt.Fprintln(os.Stderr, "failover:", err)
		os.Exit(1)
	}
}

type member struct {
	name         string
	cfg          string
	client, http string // host:port each, read from its start line
	proc         *harness.Proc
	dir, logDir  string
}

// launch starts the member's process; wait waits for its start line
// (members of a new cluster start together: each waits for a quorum).
// Its client and HTTP ports are its own (-1, :0), new on every start.
func (m *member) launch(bin string) error {
	p, err := harness.Start(m.name, m.logDir, nil, bin, "--config", m.cfg)
	m.proc = p
	return err
}

func (m *member) wait(ctx context.Context) error {
	a, err := harness.WaitAggregator(ctx, m.proc, 90*time.Second)
	m.client, m.http = a.Client, a.HTTP
	return err
}

func (m *member) stats() (aggregator.Stats, error) {
	var st aggregator.Stats
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + m.http + "/statz")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// settled checks that every member in ms sees exactly ms as members and
// that together they consume each partition once; it returns the owners.
func settled(ms []*member) (map[int]string, error) {
	var names []string
	for _, m := range ms {
		names = append(names, m.name)
	}
	slices.Sort(names)
	owner := make(map[int]string)
	for _, m := range ms {
		st, err := m.stats()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		if !slices.Equal(st.Members, names) {
			return nil, fmt.Errorf("%s sees %v, want %v", m.name, st.Members, names)
		}
		for _, p := range st.Owned {
			if o, dup := owner[p]; dup {
				return nil, fmt.Errorf("partition %d consumed by %s and %s", p, o, m.name)
			}
			owner[p] = m.name
		}
	}
	if len(owner) != partitions {
		return nil, fmt.Errorf("%d of %d partitions consumed", len(owner), partitions)
	}
	return owner, nil
}

type agent struct {
	site, host string
	part       int
}

type key struct {
	agent int
	w     int64
}

// publisher simulates the agents: one batch per agent and window, with
// Nats-Msg-Id site/host/window, retried until acknowledged.
type publisher struct {
	js     jetstream.JetStream
	agents []agent
	series []codec.Series
	base   int64

	mu      sync.Mutex
	acked   map[key]bool
	pending []key
	w       int64

	// Each agent's frames are packed against the one sent before, as the
	// agent's forwarder does: a frame that is not the next window, or the
	// first after a failed publish, is a keyframe.
	encMu sync.Mutex
	enc   map[int]*codec.Encoder
	last  map[int]int64
}

func (p *publisher) batch(k key) []byte {
	a := p.agents[k.agent]
	rs := make([]codec.Rollup, len(p.series))
	for i := range rs {
		v := float64(k.w*1000 + int64(k.agent) + int64(i))
		rs[i] = codec.Rollup{ID: uint32(i), Count: 1, Sum: v, Min: v, Max: v, First: v, Last: v}
	}
	p.encMu.Lock()
	defer p.encMu.Unlock()
	if p.enc == nil {
		p.enc, p.last = map[int]*codec.Encoder{}, map[int]int64{}
	}
	e := p.enc[k.agent]
	if e == nil {
		var err error
		if e, err = codec.NewEncoder(codec.DefaultWireOptions()); err != nil {
			panic(err)
		}
		p.enc[k.agent] = e
	}
	if p.last[k.agent] != k.w-1 {
		e.Reset()
	}
	p.last[k.agent] = k.w
	b, err := e.Encode(nil, &codec.Batch{Agent: a.site + "/" + a.host, Site: a.site, Host: a.host, Seq: uint64(k.w),
		Start: p.base + k.w*windowMS, Width: windowMS, Series: p.series, Rollups: rs})
	if err != nil {
		panic(err)
	}
	return b
}

// failed makes the agent's next frame a keyframe: the stream may lack the
// frame a delta would be packed against.
func (p *publisher) failed(agent int) {
	p.encMu.Lock()
	p.last[agent] = -1
	p.encMu.Unlock()
}

// send publishes keys asynchronously and waits up to 5 s for the acks;
// the keys not acknowledged are returned.
func (p *publisher) send(keys []key) []key {
	futs := make([]jetstream.PubAckFuture, len(keys))
	var failed []key
	for i, k := range keys {
		a := p.agents[k.agent]
		m := &nats.Msg{Subject: "tele." + a.site + "." + a.host, Data: p.batch(k), Header: nats.Header{}}
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s/%s/%d", a.site, a.host, k.w))
		f, err := p.js.PublishMsgAsync(m)
		if err != nil {
			failed = append(failed, k)
			p.failed(k.agent)
			continue
		}
		futs[i] = f
	}
	select {
	case <-p.js.PublishAsyncComplete():
	case <-time.After(5 * time.Second):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range futs {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
			p.acked[keys[i]] = true
		default:
			failed = append(failed, keys[i])
			p.failed(keys[i].agent)
		}
	}
	return failed
}

// run publishes a window per tick (plus the retries) until ctx is done.
func (p *publisher) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		p.w++
		keys := p.pending
		p.pending = nil
		for i := range p.agents {
			keys = append(keys, key{i, p.w})
		}
		p.mu.Unlock()
		failed := p.send(keys)
		p.mu.Lock()
		p.pending = append(p.pending, failed...)
		p.mu.Unlock()
	}
}

func run(nAgents, nSeries int, before, down, after time.Duration, keep, killLeader, crossHour bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "edgepulse-failover-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	fmt.Println("working directory", dir)
	bins, err := harness.BuildCheckout()
	if err != nil {
		return err
	}
	rd, err := harness.StartRedis(ctx, dir)
	if err != nil {
		return err
	}
	defer rd.Stop()

	ms := make([]*member, members)
	routes := make([]string, members)
	clusterPorts := make([]int, members)
	for i := range ms {
		m := &member{name: fmt.Sprintf("agg-%d", i), logDir: dir, dir: filepath.Join(dir, fmt.Sprintf("agg-%d", i))}
		// The cluster ports are picked before the members start: each
		// member's routes name the others'. The client, leaf and HTTP
		// ports are each member's own (-1, :0).
		if clusterPorts[i], err = harness.FreePort(); err != nil {
			return err
		}
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", clusterPorts[i])
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		ms[i] = m
	}
	for i, m := range ms {
		peers := slices.Delete(slices.Clone(routes), i, i+1)
		m.cfg = filepath.Join(m.dir, "aggregator.yaml")
		cfg := fmt.Sprintf(`name: %s
nats:
  host: 127.0.0.1
  port: -1
  leaf_host: 127.0.0.1
  leaf_port: -1
  store_dir: %s
  cluster: {name: ep-failover, host: 127.0.0.1, port: %d, routes: [%s]}
redis: {addr: %s}
http: 127.0.0.1:0
ack_wait: 10s
membership: {heartbeat: %s, ttl: %s}
`, m.name, filepath.Join(m.dir, "js"), clusterPorts[i], strings.Join(peers, ", "), rd.Addr, heartbeat, ttl)
		if err := os.WriteFile(m.cfg, []byte(cfg), 0o644); err != nil {
			return err
		}
	}
	for _, m := range ms {
		if err := m.launch(bins.Aggregator); err != nil {
			return err
		}
		defer func() { m.proc.Stop() }()
	}
	for _, m := range ms {
		if err := m.wait(ctx); err != nil {
			return err
		}
	}
	logs := func() string {
		var b strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&b, "--- %s:\n%s\n", m.name, m.proc.Tail(3000))
		}
		return b.String()
	}
	var owners3 map[int]string
	err = harness.WaitFor(ctx, 90*time.Second, func() (err error) { owners3, err = settled(ms); return err })
	if err != nil {
		return fmt.Errorf("cluster did not settle: %w\n%s", err, logs())
	}
	fmt.Println("3 members settled; partitions per member:", countBy(owners3))

	var urls []string
	for _, m := range ms {
		urls = append(urls, "nats://"+m.client)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(5*time.Second), jetstream.WithPublishAsyncMaxPending(4*nAgents))
	if err != nil {
		return err
	}
	pub := &publisher{js: js, acked: make(map[key]bool), base: time.Now().Truncate(time.Second).UnixMilli()}
	if crossHour {
		// Window w starts at base + w s: the hour after now begins at
		// window before+3, while the victim's partitions are taken over.
		next := pub.base - pub.base%store.HourMs + store.HourMs
		pub.base = next - (int64(before/time.Second)+3)*windowMS
	}
	for i := range nAgents {
		a := agent{site: fmt.Sprintf("site%02d", i%10), host: fmt.Sprintf("host%03d", i)}
		a.part = ring.PartitionOfTokens(partitions, a.site, a.host)
		pub.agents = append(pub.agents, a)
	}
	for i := range nSeries {
		pub.series = append(pub.series, codec.Series{ID: uint32(i), Name: fmt.Sprintf("sim_metric_%02d", i)})
	}
	pctx, pstop := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Go(func() { pub.run(pctx) })
	defer func() { pstop(); pwg.Wait() }()
	fmt.Printf("publishing %d agents × %d series, 1 s windows\n", nAgents, nSeries)
	sleep(ctx, before)

	victim := ms[2]
	if killLeader {
		info, err := js.Stream(ctx, "KV_"+aggregator.DefaultConfig().Membership.Bucket)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.name == info.CachedInfo().Cluster.Leader {
				victim = m
			}
		}
	}
	var survivors []*member
	for _, m := range ms {
		if m != victim {
			survivors = append(survivors, m)
		}
	}
	var victimParts []int
	for p, o := range owners3 {
		if o == victim.name {
			victimParts = append(victimParts, p)
		}
	}
	slices.Sort(victimParts)
	baseline := make(map[int]uint64)
	for _, m := range survivors {
		st, err := m.stats()
		if err != nil {
			return err
		}
		for p, n := range st.Partitions {
			baseline[p] += n
		}
	}
	fmt.Printf("kill -9 %s (owns %d partitions)\n", victim.name, len(victimParts))
	killed := time.Now()
	victim.proc.Kill()
	var takeover time.Duration
	err = harness.WaitFor(ctx, ttl+60*time.Second, func() error {
		got := make(map[int]uint64)
		for _, m := range survivors {
			st, err := m.stats()
			if err != nil {
				return err
			}
			for p, n := range st.Partitions {
				got[p] += n
			}
		}
		for _, p := range victimParts {
			if got[p] <= baseline[p] {
				return fmt.Errorf("partition %d: nothing applied by a survivor yet", p)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("takeover: %w\n%s", err, logs())
	}
	takeover = time.Since(killed)
	fmt.Printf("takeover after %.2f s\n", takeover.Seconds())
	var owners2 map[int]string
	if err := harness.WaitFor(ctx, 30*time.Second, func() (err error) { owners2, err = settled(survivors); return err }); err != nil {
		return fmt.Errorf("survivors did not settle: %w\n%s", err, logs())
	}
	moved := 0
	for p := range partitions {
		if owners3[p] != owners2[p] {
			moved++
		}
	}
	sleep(ctx, down)

	fmt.Println("restarting", victim.name)
	if err := victim.launch(bins.Aggregator); err != nil {
		return err
	}
	rejoin := time.Now()
	if err := victim.wait(ctx); err != nil {
		return err
	}
	var owners4 map[int]string
	if err := harness.WaitFor(ctx, 90*time.Second, func() (err error) { owners4, err = settled(ms); return err }); err != nil {
		return fmt.Errorf("rejoin: %w\n%s", err, logs())
	}
	rejoinMoved := 0
	for p := range partitions {
		if owners4[p] != owners2[p] {
			rejoinMoved++
		}
	}
	fmt.Printf("%s rejoined; 3 members settled after %.2f s; %d partitions moved, %d of them to %s (the least any assignment moves)\n",
		victim.name, time.Since(rejoin).Seconds(), rejoinMoved, countOwned(owners4, victim.name), victim.name)
	sleep(ctx, after)
	pstop()
	pwg.Wait()

	// Retry what was never acknowledged, then wait for the stream to drain.
	for range 12 {
		pub.mu.Lock()
		keys := pub.pending
		pub.pending = nil
		pub.mu.Unlock()
		if len(keys) == 0 {
			break
		}
		pub.pending = pub.send(keys)
	}
	if len(pub.pending) > 0 {
		return fmt.Errorf("%d batches were never acknowledged by the cluster", len(pub.pending))
	}
	err = harness.WaitFor(ctx, 90*time.Second, func() error {
		s, err := js.Stream(ctx, aggregator.StreamName)
		if err != nil {
			return err
		}
		if n := s.CachedInfo().State.Msgs; n > 0 {
			return fmt.Errorf("%d batches still in the stream", n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("drain: %w\n%s", err, logs())
	}
	var redelivered uint64
	for _, m := range ms {
		if st, err := m.stats(); err == nil {
			redelivered += st.Redelivered
		}
	}

	lost, dups, err := verify(ctx, rd.Addr, pub)
	if err != nil {
		return err
	}
	fmt.Printf("published %d (agent, window) batches over %d windows; %d redeliveries seen by the live members\n",
		len(pub.acked), pub.w, redelivered)
	fmt.Printf("RESULT lost=%d duplicates=%d takeover_s=%.2f moved_partitions=%d expected_moved=%d\n",
		lost, dups, takeover.Seconds(), moved, len(victimParts))
	if lost != 0 || dups != 0 || takeover > ttl+5*time.Second {
		return fmt.Errorf("FAIL: want lost=0 duplicates=0 takeover_s<=%.0f", (ttl + 5*time.Second).Seconds())
	}
	return nil
}

// countOwned counts the partitions owned by name.
func countOwned(owners map[int]string, name string) int {
	n := 0
	for _, o := range owners {
		if o == name {
			n++
		}
	}
	return n
}

// maxListed bounds the lost windows verify names.
const maxListed = 50

// verify reads every series of every agent back from Redis: an acknowledged
// (agent, window) is lost when some series has no point at the window's end,
// and duplicated when some series has more than one. It prints the first
// maxListed lost ones (agent, frame seq, partition).
func verify(ctx context.Context, addr string, pub *publisher) (lost, dups int, err error) {
	st, err := store.Open(ctx, store.Options{Addr: addr})
	if err != nil {
		return 0, 0, err
	}
	defer st.Close()
	var ends []int64
	for w := int64(1); w <= pub.w; w++ {
		ends = append(ends, pub.base+w*windowMS+windowMS)
	}
	for i, a := range pub.agents {
		b := &codec.Batch{Site: a.site, Host: a.host}
		perWindow := make([]map[int64]int, len(pub.series))
		for j := range pub.series {
			sid := store.SeriesID(store.Canon(pub.series[j].Name, store.SeriesLabels(b, &pub.series[j])))
			copies, err := st.WindowCopies(ctx, a.site+"/"+a.host, sid, windowMS, ends)
			if err != nil {
				return 0, 0, err
			}
			perWindow[j] = make(map[int64]int)
			for k, c := range copies {
				perWindow[j][ends[k]] = len(c)
			}
		}
		for w := int64(1); w <= pub.w; w++ {
			if !pub.acked[key{i, w}] {
				continue
			}
			end := pub.base + w*windowMS + windowMS
			missing, twice := false, false
			for j := range perWindow {
				switch n := perWindow[j][end]; {
				case n == 0:
					missing = true
				case n > 1:
					twice = true
				}
			}
			if missing {
				lost++
				if lost <= maxListed {
					// The seq is the window: follow it in the members' logs.
					fmt.Printf("lost agent=%s/%s seq=%d partition=%d\n", a.site, a.host, w, a.part)
				}
			}
			if twice {
				dups++
			}
		}
	}
	return lost, dups, nil
}

func countBy(owner map[int]string) map[string]int {
	out := make(map[string]int)
	for _, o := range owner {
		out[o]++
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
