package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgepulse/edgepulse/edge/spool"
	"github.com/edgepulse/edgepulse/testbench/harness"
	"github.com/edgepulse/edgepulse/testbench/proxy"
)

// FleetOptions shape a fleet of real processes.
type FleetOptions struct {
	Dir           string        // working directory: logs, configs, data
	Sites         int           // sites, each with its own leaf and proxy; 1–26
	AgentsPerSite int           // agents per site; 1–100
	Window        time.Duration // agent window and interval; default 1 s
	Progress      io.Writer     // progress lines; nil: discarded
	// LeafConfig is the leaf's nats-server config; default deploy/leaf.conf.
	LeafConfig string
	// LeafEnv returns extra environment for a site's leaf (e.g. its
	// JetStream domain and store directory); nil: none.
	LeafEnv func(site string) []string
	// StockHub runs a stock nats-server with JetStream as the hub instead of
	// the aggregator (no Redis): the caller creates the streams. For
	// measuring the site tier, where the hub's stream config varies.
	StockHub bool
}

// Validate names the first bad field.
func (o FleetOptions) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("faults: dir must be set")
	case o.Sites < 1 || o.Sites > 26:
		return fmt.Errorf("faults: sites %d must be between 1 and 26", o.Sites)
	case o.AgentsPerSite < 1 || o.AgentsPerSite > 100:
		return fmt.Errorf("faults: agents per site %d must be between 1 and 100", o.AgentsPerSite)
	case o.Window < 0 || o.Window > time.Minute:
		return fmt.Errorf("faults: window %v must be between 0 (1 s) and 1m", o.Window)
	}
	return nil
}

// Fleet is Redis, the aggregator with its embedded hub, and per site a
// counting proxy, a stock nats-server leaf node and its agents.
type Fleet struct {
	opts    FleetOptions
	bins    harness.Bins
	root    string
	Redis   *harness.Redis
	Agg     *harness.Proc
	HubURL  string // the hub's client URL
	hubLeaf string // the hub's leaf-node address
	Sites   []*Site

	writerStop chan struct{}
	writerDone chan struct{}
}

// Site is one site: its uplink proxy, its leaf node and its agents.
type Site struct {
	Name      string
	Proxy     *proxy.Proxy
	Leaf      *harness.Proc
	LeafURL   string // nats://127.0.0.1:<port>, what the agents dial
	leafPort  int
	Agents    []*Agent
	leafStart int
	fleet     *Fleet
}

// Agent is one edgepulse-agent process and its synthetic host.
type Agent struct {
	Site, Host string
	ID         string // site/host, the Nats-Msg-Id prefix
	Proc       *harness.Proc
	ProcRoot   string
	DataDir    string
	cfgPath    string
	// FirstSeq is the first sequence number its spool issues in this run.
	FirstSeq uint64
	Starts   int // processes started
	index    int
	f        *Fleet

	mu        sync.Mutex
	quiesced  bool
	writeTick int
}

func (f *Fleet) progress(format string, a ...any) {
	if f.opts.Progress != nil {
		fmt.Fprintf(f.opts.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
	}
}

// StartFleet builds the binaries and starts Redis, the aggregator and
// every site's proxy and leaf, and prepares the agents; StartAgents starts
// them (once whatever records their batches is listening).
func StartFleet(ctx context.Context, o FleetOptions) (*Fleet, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Window == 0 {
		o.Window = time.Second
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	if o.LeafConfig == "" {
		o.LeafConfig = filepath.Join(root, "deploy", "leaf.conf")
	}
	// The binary directory per checkout, as the harness's stack uses.
	bins, err := harness.BuildCheckout()
	if err != nil {
		return nil, err
	}
	f := &Fleet{opts: o, bins: bins, root: root}
	ok := false
	defer func() {
		if !ok {
			f.Stop()
		}
	}()
	if err := os.MkdirAll(f.logDir(), 0o755); err != nil {
		return nil, err
	}
	if f.opts.LeafConfig, err = proxy.LeafConfig(o.LeafConfig, filepath.Join(o.Dir, "leaf.conf"), ""); err != nil {
		return nil, err
	}
	if o.StockHub {
		if err := f.startStockHub(ctx); err != nil {
			return nil, err
		}
	} else {
		if f.Redis, err = harness.StartRedis(ctx, f.logDir()); err != nil {
			return nil, err
		}
		if err := f.startAggregator(ctx); err != nil {
			return nil, err
		}
	}
	for s := range o.Sites {
		site, err := f.startSite(ctx, fmt.Sprintf("s%d", s+1))
		if err != nil {
			return nil, err
		}
		f.Sites = append(f.Sites, site)
		for h := range o.AgentsPerSite {
			a, err := site.addAgent(fmt.Sprintf("h%d", h+1), s*o.AgentsPerSite+h)
			if err != nil {
				return nil, err
			}
			site.Agents = append(site.Agents, a)
		}
	}
	f.writeProcs() // every tree has its first values before any agent reads it
	f.writerStop, f.writerDone = make(chan struct{}), make(chan struct{})
	go f.procWriter()
	f.progress("fleet ready: %d sites × %d agents, window %v, hub %s", o.Sites, o.AgentsPerSite, o.Window, f.HubURL)
	ok = true
	return f, nil
}

// StartAgents starts every agent process.
func (f *Fleet) StartAgents() error {
	for _, a := range f.Agents() {
		if err := a.Start(); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fleet) startAggregator(ctx context.Context) error {
	// Its ports are its own (-1, :0), read back from its log.
	cfg := filepath.Join(f.opts.Dir, "aggregator.yaml")
	err := os.WriteFile(cfg, fmt.Appendf(nil, `name: hub-1
nats: {host: 127.0.0.1, port: -1, leaf_host: 127.0.0.1, leaf_port: -1, store_dir: %s}
redis: {addr: %s}
http: 127.0.0.1:0
`, filepath.Join(f.opts.Dir, "hub-js"), f.Redis.Addr), 0o644)
	if err != nil {
		return err
	}
	if f.Agg, err = harness.Start("aggregator", f.logDir(), nil, f.bins.Aggregator, "--config", cfg); err != nil {
		return err
	}
	addrs, err := harness.WaitAggregator(ctx, f.Agg, 60*time.Second)
	if err != nil {
		return err
	}
	f.HubURL = "nats://" + addrs.Client
	f.hubLeaf = addrs.Leaf
	if err := harness.WaitHTTP(ctx, "http://"+addrs.HTTP+"/healthz", 60*time.Second); err != nil {
		return fmt.Errorf("aggregator: %w\n%s", err, f.Agg.Tail(4000))
	}
	return nil
}

// startStockHub starts a stock nats-server with JetStream and a leaf-node
// listener as the hub, on ports of its own (-1) read back from its log.
func (f *Fleet) startStockHub(ctx context.Context) error {
	cfg := filepath.Join(f.opts.Dir, "hub.conf")
	err := os.WriteFile(cfg, fmt.Appendf(nil, `server_name: hub-1
listen: 127.0.0.1:-1
max_payload: 8MB
jetstream { store_dir: %q }
leafnodes { listen: 127.0.0.1:-1 }
`, filepath.Join(f.opts.Dir, "hub-js")), 0o644)
	if err != nil {
		return err
	}
	if f.Agg, err = harness.Start("hub", f.logDir(), nil, f.bins.NATSServer, "-c", cfg); err != nil {
		return err
	}
	client, leaf, err := harness.WaitNATS(ctx, f.Agg, true, 30*time.Second)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	f.HubURL, f.hubLeaf = "nats://"+client, leaf
	return nil
}

func (f *Fleet) startSite(ctx context.Context, name string) (*Site, error) {
	px, err := proxy.New("127.0.0.1:0", f.hubLeaf)
	if err != nil {
		return nil, err
	}
	// The one port picked before its process binds it: the leaf is killed
	// and restarted on it, and its agents were given it. StartLeaf reports
	// the port taken in between, with the leaf's log.
	port, err := harness.FreePort()
	if err != nil {
		px.Close()
		return nil, err
	}
	s := &Site{Name: name, Proxy: px, leafPort: port, LeafURL: fmt.Sprintf("nats://127.0.0.1:%d", port), fleet: f}
	if err := s.StartLeaf(ctx); err != nil {
		px.Close()
		return nil, err
	}
	return s, nil
}

// StartLeaf starts (or restarts) the site's leaf node on its port.
func (s *Site) StartLeaf(ctx context.Context) error {
	f := s.fleet
	s.leafStart++
	var err error
	env := []string{"EDGEPULSE_HUB_LEAF_URL=nats-leaf://" + s.Proxy.Addr()}
	if f.opts.LeafEnv != nil {
		env = append(env, f.opts.LeafEnv(s.Name)...)
	}
	s.Leaf, err = harness.Start("leaf-"+s.Name, f.logDir(), env,
		f.bins.NATSServer, "-c", f.opts.LeafConfig, "-n", "leaf-"+s.Name,
		"-p", strconv.Itoa(s.leafPort), "-m", "0")
	if err != nil {
		return err
	}
	if err := harness.WaitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", s.leafPort), 30*time.Second); err != nil {
		return fmt.Errorf("leaf %s: %w\n%s", s.Name, err, s.Leaf.Tail(4000))
	}
	return nil
}

// addAgent prepares an agent's /proc tree, config and spool.
func (s *Site) addAgent(host string, index int) (*Agent, error) {
	f := s.fleet
	dir := filepath.Join(f.opts.Dir, "agents", s.Name+"-"+host)
	a := &Agent{Site: s.Name, Host: host, ID: s.Name + "/" + host, index: index, f: f,
		ProcRoot: filepath.Join(dir, "proc"), DataDir: filepath.Join(dir, "data")}
	if err := harness.CopyTree(filepath.Join(f.root, "testbench", "testdata", "proc"), a.ProcRoot); err != nil {
		return nil, err
	}
	// Open the spool once so the run knows the first sequence number the
	// agent will issue: a sequence counter is persisted by one append
	// (acknowledged at once, so never published).
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(a.DataDir, "spool")}, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	q, err := sp.Append(func(uint64) ([]byte, error) { return []byte("sequence marker"), nil })
	if err == nil {
		err = sp.Ack(q)
	}
	if cerr := sp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("faults: preparing spool of %s: %w", a.ID, err)
	}
	a.FirstSeq = q + 1
	a.cfgPath = filepath.Join(dir, "agent.yaml")
	w := f.opts.Window
	err = os.WriteFile(a.cfgPath, fmt.Appendf(nil, `site: %s
host: %s
nats_url: %s
interval: %s
window: %s
lateness: %s
procfs: %s
data_dir: %s
metrics_listen: 127.0.0.1:0
`, s.Name, host, s.LeafURL, w, w, w/2, a.ProcRoot, a.DataDir), 0o644)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// Agents lists every agent of every site.
func (f *Fleet) Agents() []*Agent {
	var out []*Agent
	for _, s := range f.Sites {
		out = append(out, s.Agents...)
	}
	return out
}

// Start starts the agent process (again).
func (a *Agent) Start() error {
	p, err := harness.Start("agent-"+a.Site+"-"+a.Host, a.f.logDir(), nil, a.f.bins.Agent, "run", "--config", a.cfgPath)
	if err != nil {
		return err
	}
	a.Proc = p
	a.Starts++
	return nil
}

func (f *Fleet) logDir() string { return filepath.Join(f.opts.Dir, "logs") }

// Running counts the "agent running" lines in the agent's log: one per
// process that opened its spool, connected and started its loops.
func (a *Agent) Running() int {
	if a.Proc == nil {
		return 0
	}
	b, _ := os.ReadFile(a.Proc.Log)
	return strings.Count(string(b), `msg="agent running"`)
}

// LogContains reports whether the agent's log has s.
func (a *Agent) LogContains(s string) bool {
	if a.Proc == nil {
		return false
	}
	b, _ := os.ReadFile(a.Proc.Log)
	return strings.Contains(string(b), s)
}

// Metrics scrapes the agent's own /metrics into name → value (series
// with labels are skipped).
func (a *Agent) Metrics() (map[string]float64, error) {
	if a.Proc == nil {
		return nil, fmt.Errorf("%s: not started", a.ID)
	}
	// Each start binds a port of its own (metrics_listen :0) and logs it.
	u, err := harness.AgentMetricsURL(a.Proc)
	if err != nil {
		return nil, err
	}
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// Quiesce stops the agent's host from producing samples: the /proc tree's
// files go away, so no window closes with data after the current ones.
func (a *Agent) Quiesce() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.quiesced = true
	// The whole tree goes: some collectors report zeros from an empty
	// tree (no processes is a count of 0), and a window a second would
	// keep the spool from ever being still.
	if err := os.Rename(a.ProcRoot, a.ProcRoot+".quiesced"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// writeProcs moves every live agent's loadavg and meminfo to new values,
// so consecutive windows carry distinct numbers.
func (f *Fleet) writeProcs() {
	for _, a := range f.Agents() {
		a.mu.Lock()
		if !a.quiesced {
			a.writeTick++
			k := a.writeTick
			load := float64(a.index) + float64(k%1000)/1000
			harness.WriteFileAtomic(filepath.Join(a.ProcRoot, "loadavg"),
				fmt.Appendf(nil, "%.3f %.2f %.2f 2/345 %d\n", load, load/2, load/4, 6789+k))
			free := 2000000 + (k*997+a.index*13)%1000000
			harness.WriteFileAtomic(filepath.Join(a.ProcRoot, "meminfo"), fmt.Appendf(nil, meminfo, free, free*2))
		}
		a.mu.Unlock()
	}
}

const meminfo = `MemTotal:        8000000 kB
MemFree:         %d kB
MemAvailable:    %d kB
Buffers:          100000 kB
Cached:          1500000 kB
SwapCached:            0 kB
Active:          3000000 kB
Inactive:        1000000 kB
Active(anon):    2000000 kB
Inactive(anon):   100000 kB
SwapTotal:       1000000 kB
SwapFree:        1000000 kB
Dirty:               128 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
`

// procWriter rewrites the synthetic trees twice per window.
func (f *Fleet) procWriter() {
	defer close(f.writerDone)
	t := time.NewTicker(f.opts.Window / 2)
	defer t.Stop()
	for {
		select {
		case <-f.writerStop:
			return
		case <-t.C:
			f.writeProcs()
		}
	}
}

// Stop ends every process: agents first, then leaves, proxies, the
// aggregator and Redis.
func (f *Fleet) Stop() {
	if f.writerStop != nil {
		close(f.writerStop)
		<-f.writerDone
		f.writerStop = nil
	}
	var wg sync.WaitGroup
	for _, a := range f.Agents() {
		if a.Proc != nil {
			wg.Go(a.Proc.Stop)
		}
	}
	wg.Wait()
	for _, s := range f.Sites {
		if s.Leaf != nil {
			s.Leaf.Stop()
		}
		s.Proxy.Close()
	}
	if f.Agg != nil {
		f.Agg.Stop()
	}
	if f.Redis != nil {
		f.Redis.Stop()
	}
}
