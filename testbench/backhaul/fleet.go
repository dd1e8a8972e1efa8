package backhaul

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/testbench/harness"
	"github.com/edgepulse/edgepulse/testbench/leaftap"
	"github.com/edgepulse/edgepulse/testbench/proxy"
)

// fleet is Redis, the aggregator with its embedded hub, and per site a
// counting proxy on the uplink, a stock nats-server leaf and its agents.
type fleet struct {
	dir      string
	bins     harness.Bins
	root     string
	progress io.Writer

	redis   *harness.Redis
	agg     *harness.Proc
	hubURL  string
	hubLeaf string
	// hubMonitor is the hub's monitoring endpoint (/leafz, /connz, /varz).
	hubMonitor string
	sites      []*site
	rec        *recorder
	classifier tapClassifier // the sites' taps' (kinds.go)
}

type site struct {
	name    string
	proxy   *proxy.Proxy
	tap     *leaftap.Meter // the uplink's bytes by kind
	leaf    *harness.Proc
	leafURL string
	hosts   []*host
}

// host is one agent and the tree it reads.
type host struct {
	site, name string
	procRoot   string // /proc for the real host
	synth      *Host  // nil for the real host
	dataDir    string
	cfgPath    string
	windowLog  string
	agent      *harness.Proc
}

// id is the agent's identity, site/host.
func (h *host) id() string { return h.site + "/" + h.name }

func (f *fleet) logf(format string, a ...any) {
	if f.progress != nil {
		fmt.Fprintf(f.progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
}

func (f *fleet) logDir() string { return filepath.Join(f.dir, "logs") }

// startFleet builds the binaries and starts Redis, the aggregator, the
// hub recorder and every site's proxy and leaf; agents start later.
func startFleet(ctx context.Context, dir string, sites int, compression string, progress io.Writer) (*fleet, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	f := &fleet{dir: dir, root: root, progress: progress}
	ok := false
	defer func() {
		if !ok {
			f.stop()
		}
	}()
	if err := os.MkdirAll(f.logDir(), 0o755); err != nil {
		return nil, err
	}
	f.logf("building agent, aggregator and nats-server")
	// One binary directory per checkout, as the harness's stack uses.
	if f.bins, err = harness.BuildCheckout(); err != nil {
		return nil, err
	}
	if f.redis, err = harness.StartRedis(ctx, f.logDir()); err != nil {
		return nil, err
	}
	if err := f.startAggregator(ctx); err != nil {
		return nil, err
	}
	if f.rec, err = newRecorder(f.hubURL); err != nil {
		return nil, err
	}
	leafConf, err := proxy.LeafConfig(filepath.Join(root, "deploy", "leaf.conf"), filepath.Join(dir, "leaf.conf"), compression)
	if err != nil {
		return nil, err
	}
	for i := range sites {
		s := &site{name: fmt.Sprintf("s%d", i+1)}
		f.sites = append(f.sites, s)
		if s.proxy, err = proxy.New("127.0.0.1:0", f.hubLeaf); err != nil {
			return nil, err
		}
		s.tap = leaftap.New(f.classifier.classify)
		s.proxy.Tap(s.tap.Conn)
		s.leaf, err = harness.Start("leaf-"+s.name, f.logDir(), []string{"EDGEPULSE_HUB_LEAF_URL=nats-leaf://" + s.proxy.Addr()},
			f.bins.NATSServer, "-c", leafConf, "-n", "leaf-"+s.name, "-p", "-1", "-m", "0")
		if err != nil {
			return nil, err
		}
		client, _, err := harness.WaitNATS(ctx, s.leaf, false, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("backhaul: leaf %s: %w", s.name, err)
		}
		s.leafURL = "nats://" + client
	}
	ok = true
	return f, nil
}

func (f *fleet) startAggregator(ctx context.Context) error {
	// Its ports are its own (-1, :0), read back from its log.
	cfg := filepath.Join(f.dir, "aggregator.yaml")
	err := os.WriteFile(cfg, fmt.Appendf(nil, `name: hub-1
nats: {host: 127.0.0.1, port: -1, leaf_host: 127.0.0.1, leaf_port: -1, http_port: -1, store_dir: %s}
redis: {addr: %s}
http: 127.0.0.1:0
`, filepath.Join(f.dir, "hub-js"), f.redis.Addr), 0o644)
	if err != nil {
		return err
	}
	if f.agg, err = harness.Start("aggregator", f.logDir(), nil, f.bins.Aggregator, "--config", cfg); err != nil {
		return err
	}
	addrs, err := harness.WaitAggregator(ctx, f.agg, 60*time.Second)
	if err != nil {
		return fmt.Errorf("backhaul: %w", err)
	}
	monitor, err := harness.WaitMonitor(ctx, f.agg, 10*time.Second)
	if err != nil {
		return fmt.Errorf("backhaul: %w", err)
	}
	f.hubURL = "nats://" + addrs.Client
	f.hubLeaf = addrs.Leaf
	f.hubMonitor = "http://" + monitor
	if err := harness.WaitHTTP(ctx, "http://"+addrs.HTTP+"/healthz", 60*time.Second); err != nil {
		return fmt.Errorf("backhaul: aggregator: %w\n%s", err, f.agg.Tail(4000))
	}
	return nil
}

// addHost prepares an agent's config; procRoot is its tree.
func (f *fleet) addHost(s *site, name, procRoot string, synth *Host, window, lateness time.Duration, extra string) (*host, error) {
	dir := filepath.Join(f.dir, "agents", s.name+"-"+name)
	h := &host{site: s.name, name: name, procRoot: procRoot, synth: synth, dataDir: filepath.Join(dir, "data"),
		cfgPath: filepath.Join(dir, "agent.yaml"), windowLog: filepath.Join(dir, "windows.jsonl")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	err := os.WriteFile(h.cfgPath, fmt.Appendf(nil, `site: %s
host: %s
nats_url: %s
interval: 1s
window: %s
lateness: %s
procfs: %s
data_dir: %s
metrics_listen: "off"
window_log: %s
%s
`, s.name, name, s.leafURL, window, lateness, procRoot, h.dataDir, h.windowLog, extra), 0o644)
	if err != nil {
		return nil, err
	}
	s.hosts = append(s.hosts, h)
	return h, nil
}

func (f *fleet) hosts() []*host {
	var out []*host
	for _, s := range f.sites {
		out = append(out, s.hosts...)
	}
	return out
}

// startAgents starts every agent; bins[i], when set, replaces this
// checkout's agent binary for site i+1.
func (f *fleet) startAgents(bins []string) error {
	for i, s := range f.sites {
		bin := f.bins.Agent
		if i < len(bins) && bins[i] != "" {
			bin = bins[i]
		}
		for _, h := range s.hosts {
			p, err := harness.Start("agent-"+h.site+"-"+h.name, f.logDir(), nil, bin, "run", "--config", h.cfgPath)
			if err != nil {
				return err
			}
			h.agent = p
		}
	}
	return nil
}

// stopAgents stops every agent (SIGTERM, in parallel).
func (f *fleet) stopAgents() {
	var wg sync.WaitGroup
	for _, h := range f.hosts() {
		if h.agent != nil {
			wg.Go(h.agent.Stop)
		}
	}
	wg.Wait()
}

// stop ends every process: agents, leaves, proxies, the aggregator, Redis.
func (f *fleet) stop() {
	f.stopAgents()
	for _, s := range f.sites {
		if s.leaf != nil {
			s.leaf.Stop()
		}
		if s.proxy != nil {
			s.proxy.Close()
		}
	}
	if f.rec != nil {
		f.rec.close()
	}
	if f.agg != nil {
		f.agg.Stop()
	}
	if f.redis != nil {
		f.redis.Stop()
	}
}

// uplink sums the proxies' counters.
func (f *fleet) uplink() proxy.Stats {
	var t proxy.Stats
	for _, s := range f.sites {
		st := s.proxy.Stats()
		t.Up += st.Up
		t.Down += st.Down
		t.Accepted += st.Accepted
		t.Active += st.Active
	}
	return t
}

// kinds snapshots every site's tap, in site order.
func (f *fleet) kinds() []map[leaftap.Key]leaftap.Counts {
	var out []map[leaftap.Key]leaftap.Counts
	for _, s := range f.sites {
		out = append(out, s.tap.Snapshot())
	}
	return out
}

// tapUnparsed sums the bytes the sites' taps could not parse.
func (f *fleet) tapUnparsed() uint64 {
	var n uint64
	for _, s := range f.sites {
		n += s.tap.Unparsed()
	}
	return n
}

// recorder is a core subscription to tele.> on the hub: every batch that
// reaches the hub passes it. It counts message body and header bytes per
// host without decoding them (the wire format is what is being measured).
type recorder struct {
	nc *nats.Conn

	mu   sync.Mutex
	msgs []sighting
}

type sighting struct {
	at      time.Time
	subject string
	body    int
	header  int
}

func newRecorder(url string) (*recorder, error) {
	r := &recorder{}
	nc, err := nats.Connect(url, nats.Name("backhaul recorder"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("backhaul: recorder: connect %s: %w", url, err)
	}
	sub, err := nc.Subscribe("tele.>", func(m *nats.Msg) {
		hdr := 0
		if len(m.Header) > 0 {
			hdr = len("NATS/1.0\r\n\r\n")
			for k, vs := range m.Header {
				for _, v := range vs {
					hdr += len(k) + 2 + len(v) + 2
				}
			}
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, sighting{at: time.Now(), subject: m.Subject, body: len(m.Data), header: hdr})
		r.mu.Unlock()
	})
	if err != nil {
		nc.Close()
		return nil, err
	}
	sub.SetPendingLimits(-1, -1)
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	r.nc = nc
	return r, nil
}

func (r *recorder) close() { r.nc.Close() }

// between sums the messages seen in [from, to): count, body and header
// bytes.
func (r *recorder) between(from, to time.Time) (msgs, body, header int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.msgs {
		if !s.at.Before(from) && s.at.Before(to) {
			msgs++
			body += s.body
			header += s.header
		}
	}
	return
}

// bodyOf sums the body bytes of subject's messages seen in [from, to).
func (r *recorder) bodyOf(subject string, from, to time.Time) (msgs, body int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.msgs {
		if s.subject == subject && !s.at.Before(from) && s.at.Before(to) {
			msgs++
			body += s.body
		}
	}
	return
}

// since counts the messages of subject seen at or after from.
func (r *recorder) since(subject string, from time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.msgs {
		if s.subject == subject && !s.at.Before(from) {
			n++
		}
	}
	return n
}
