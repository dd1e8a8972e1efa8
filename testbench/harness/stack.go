package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// StackOptions describe a one-site stack.
type StackOptions struct {
	Dir      string // working directory for logs, data and configs
	ProcRoot string // the agent's procfs root
	Site     string // default "siteA"
	Host     string // default "hostA"
	Window   string // agent window, e.g. "2s"; default 60s
	// AgentExtra is appended to the agent's YAML config.
	AgentExtra string
	// AggExtra is appended to the aggregator's YAML config.
	AggExtra string
}

// Stack is one site's worth of real processes: Redis, the aggregator with
// its embedded hub, a stock nats-server leaf node and an agent.
type Stack struct {
	Redis   *Redis
	Agg     *Proc
	Leaf    *Proc
	Agent   *Proc
	APIURL  string // the query API, http://127.0.0.1:<port>
	HubURL  string // the hub's client URL
	LeafURL string // the site leaf's client URL
	Bins    Bins

	agentCfg string
}

// StartStack builds the binaries and starts the stack; Stop ends it.
func StartStack(ctx context.Context, o StackOptions) (*Stack, error) {
	if o.Site == "" {
		o.Site = "siteA"
	}
	if o.Host == "" {
		o.Host = "hostA"
	}
	if o.Window == "" {
		o.Window = "60s"
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	bins, err := BuildCheckout()
	if err != nil {
		return nil, err
	}
	s := &Stack{Bins: bins}
	fail := func(err error) (*Stack, error) {
		s.Stop()
		return nil, err
	}
	if s.Redis, err = StartRedis(ctx, o.Dir); err != nil {
		return fail(err)
	}
	// Every port is bound by the process that uses it (-1, :0) and read
	// back from its log, never picked here and bound later.
	aggCfg := filepath.Join(o.Dir, "aggregator.yaml")
	err = os.WriteFile(aggCfg, fmt.Appendf(nil, `name: hub-1
nats: {host: 127.0.0.1, port: -1, leaf_host: 127.0.0.1, leaf_port: -1, store_dir: %s}
redis: {addr: %s}
http: 127.0.0.1:0
%s
`, filepath.Join(o.Dir, "js"), s.Redis.Addr, o.AggExtra), 0o644)
	if err != nil {
		return fail(err)
	}
	if s.Agg, err = Start("aggregator", o.Dir, nil, bins.Aggregator, "--config", aggCfg); err != nil {
		return fail(err)
	}
	m, err := WaitLog(ctx, s.Agg, aggRunning, 60*time.Second)
	if err != nil {
		return fail(fmt.Errorf("aggregator: %w", err))
	}
	s.HubURL, s.APIURL = m[1], "http://"+m[3]
	leafURL := m[2]
	if err := WaitHTTP(ctx, s.APIURL+"/healthz", 60*time.Second); err != nil {
		return fail(fmt.Errorf("aggregator: %w\n%s", err, s.Agg.Tail(4000)))
	}
	s.Leaf, err = Start("leaf", o.Dir, []string{"EDGEPULSE_HUB_LEAF_URL=" + leafURL},
		bins.NATSServer, "-c", filepath.Join(root, "deploy", "leaf.conf"), "-p", "-1", "-m", "0")
	if err != nil {
		return fail(err)
	}
	m, err = WaitLog(ctx, s.Leaf, natsClientListen, 30*time.Second)
	if err != nil {
		return fail(fmt.Errorf("leaf: %w", err))
	}
	s.LeafURL = "nats://" + m[1]
	if !strings.Contains(o.AgentExtra, "metrics_listen:") {
		o.AgentExtra += "\nmetrics_listen: \"off\"\n" // several agents share this host's ports
	}
	s.agentCfg = filepath.Join(o.Dir, "agent.yaml")
	err = os.WriteFile(s.agentCfg, fmt.Appendf(nil, `site: %s
host: %s
nats_url: %s
interval: 1s
window: %s
lateness: 500ms
procfs: %s
data_dir: %s
%s`, o.Site, o.Host, s.LeafURL, o.Window, o.ProcRoot, filepath.Join(o.Dir, "agent"), o.AgentExtra), 0o644)
	if err != nil {
		return fail(err)
	}
	if s.Agent, err = Start("agent", o.Dir, nil, bins.Agent, "run", "--config", s.agentCfg); err != nil {
		return fail(err)
	}
	return s, nil
}

// aggRunning is the aggregator's start line: its hub's client and leaf
// URLs and the query API's bound address.
var aggRunning = regexp.MustCompile(`msg="aggregator running" .*\bnats=(\S+) leaf=(\S+) http=(\S+)`)

// natsClientListen is nats-server's line naming its bound client port.
var natsClientListen = regexp.MustCompile(`Listening for client connections on (\S+:\d+)`)

// WaitLog waits until p's log has a line matching re and returns its
// submatches; it fails when p exits first or after timeout, with the
// log's tail.
func WaitLog(ctx context.Context, p *Proc, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	var m []string
	err := WaitFor(ctx, timeout, func() error {
		if m = re.FindStringSubmatch(p.Tail(1 << 20)); m != nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("exited")
		}
		return fmt.Errorf("no line matching %s", re)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", p.Name, err, p.Tail(4000))
	}
	return m, nil
}

// Stop ends every process of the stack, agent first.
func (s *Stack) Stop() {
	for _, p := range []*Proc{s.Agent, s.Leaf, s.Agg} {
		if p != nil {
			p.Stop()
		}
	}
	if s.Redis != nil {
		s.Redis.Stop()
	}
}

// Logs returns the tails of every process log, for failure messages.
func (s *Stack) Logs() string {
	out := ""
	for _, p := range []*Proc{s.Agent, s.Leaf, s.Agg} {
		if p != nil {
			out += fmt.Sprintf("--- %s:\n%s\n", p.Name, p.Tail(3000))
		}
	}
	return out
}
