package harness

import (
	"context"
	"fmt"

	"os"
	"path/filepath"
	"strconv"
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
	// NoAgent starts everything but the agent (the caller runs its own
	// against LeafURL).
	NoAgent bool
	// LeafVia, when set, is given the hub's leaf-node address and returns
	// the address the site leaf dials instead (a counting proxy).
	LeafVia func(hubLeaf string) (string, error)
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
	ports := make([]int, 4)
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return fail(err)
		}
	}
	hubPort, leafPort, httpPort, siteClientPort := ports[0], ports[1], ports[2], ports[3]
	aggCfg := filepath.Join(o.Dir, "aggregator.yaml")
	err = os.WriteFile(aggCfg, fmt.Appendf(nil, `name: hub-1
nats: {host: 127.0.0.1, port: %d, leaf_host: 127.0.0.1, leaf_port: %d, store_dir: %s}
redis: {addr: %s}
http: 127.0.0.1:%d
%s
`, hubPort, leafPort, filepath.Join(o.Dir, "js"), s.Redis.Addr, httpPort, o.AggExtra), 0o644)
	if err != nil {
		return fail(err)
	}
	if s.Agg, err = Start("aggregator", o.Dir, nil, bins.Aggregator, "--config", aggCfg); err != nil {
		return fail(err)
	}
	s.APIURL = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	s.HubURL = fmt.Sprintf("nats://127.0.0.1:%d", hubPort)
	if err := WaitHTTP(ctx, s.APIURL+"/healthz", 60*time.Second); err != nil {
		return fail(fmt.Errorf("aggregator: %w\n%s", err, s.Agg.Tail(4000)))
	}
	leafAddr := fmt.Sprintf("127.0.0.1:%d", leafPort)
	if o.LeafVia != nil {
		if leafAddr, err = o.LeafVia(leafAddr); err != nil {
			return fail(err)
		}
	}
	s.Leaf, err = Start("leaf", o.Dir, []string{"EDGEPULSE_HUB_LEAF_URL=nats-leaf://" + leafAddr},
		bins.NATSServer, "-c", filepath.Join(root, "deploy", "leaf.conf"), "-p", strconv.Itoa(siteClientPort), "-m", "0")
	if err != nil {
		return fail(err)
	}
	s.LeafURL = fmt.Sprintf("nats://127.0.0.1:%d", siteClientPort)
	if err := WaitTCP(ctx, fmt.Sprintf("127.0.0.1:%d", siteClientPort), 30*time.Second); err != nil {
		return fail(fmt.Errorf("leaf: %w\n%s", err, s.Leaf.Tail(4000)))
	}
	if o.NoAgent {
		return s, nil
	}
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
