package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os/exec"

	"os"
	"path/filepath"
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
	// ExtraHosts get leaf users too (Stack.StartAgent, or a test client
	// publishing as that host).
	ExtraHosts []string
}

// Stack is one site's worth of real processes: Redis, the aggregator with
// its embedded hub, a stock nats-server leaf node and an agent.
type Stack struct {
	Redis   *Redis
	Agg     *Proc
	Leaf    *Proc
	Agent   *Proc
	APIURL  string // the query API, http://127.0.0.1:<port>
	HubURL  string // the hub's client URL, with the aggregator user's credentials
	LeafURL string // the site leaf's client URL, with the operator's credentials
	Bins    Bins

	agentCfg string
	dir      string
	opts     StackOptions
	leafAddr string // host:port of the site leaf's client port
}

// The stack runs with credentials, as make run does (docs/security.md):
// the hub's client port takes the aggregator user only, the site joins
// with its own leaf user, each agent host has a leaf user that may
// publish only its own subject, and "operator" may do anything on the
// leaf. The passwords are made per stack under <Dir>/creds.

// AgentCreds returns the leaf user and password file of host (the
// stack's Host or one of ExtraHosts).
func (s *Stack) AgentCreds(host string) (user, passwordFile string) {
	return host, filepath.Join(s.dir, "creds", "agent-"+host+".pw")
}

// SiteLeafAddr is the site leaf's client host:port (no credentials).
func (s *Stack) SiteLeafAddr() string { return s.leafAddr }

// StartAgent starts another agent of the stack's site as host (one of
// ExtraHosts), named name in the logs, with extra appended to its config.
func (s *Stack) StartAgent(name, host, extra string) (*Proc, error) {
	cfg, err := s.writeAgentConfig(name, host, extra)
	if err != nil {
		return nil, err
	}
	return Start(name, s.dir, nil, s.Bins.Agent, "run", "--config", cfg)
}

// writeAgentConfig writes <dir>/<name>.yaml for an agent of the stack's
// site as host, its data in <dir>/<name>, with extra appended; its own
// metrics listener is off unless extra sets one (several agents share
// this host's ports).
func (s *Stack) writeAgentConfig(name, host, extra string) (string, error) {
	if !strings.Contains(extra, "metrics_listen:") {
		extra += "\nmetrics_listen: \"off\"\n"
	}
	user, pw := s.AgentCreds(host)
	cfg := filepath.Join(s.dir, name+".yaml")
	return cfg, os.WriteFile(cfg, fmt.Appendf(nil, `site: %s
host: %s
nats_url: nats://%s
nats_user: %s
nats_password_file: %s
interval: 1s
window: %s
lateness: 500ms
procfs: %s
data_dir: %s
%s`, s.opts.Site, host, s.leafAddr, user, pw, s.opts.Window, s.opts.ProcRoot, filepath.Join(s.dir, name), extra), 0o644)
}

// newSecret writes a random password to path (mode 0600) and returns it.
func newSecret(path string) (string, error) {
	var b [12]byte
	rand.Read(b[:])
	pw := hex.EncodeToString(b[:])
	return pw, os.WriteFile(path, []byte(pw+"\n"), 0o600)
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
	s := &Stack{Bins: bins, dir: o.Dir, opts: o}
	fail := func(err error) (*Stack, error) {
		s.Stop()
		return nil, err
	}
	if s.Redis, err = StartRedis(ctx, o.Dir); err != nil {
		return fail(err)
	}
	// Every port is bound by the process that uses it (-1, :0) and read
	// back from its log (WaitLog), never picked here and bound later: a
	// port FreePort found free can be taken before the process binds it
	// (a TestFaultsShort run once saw the aggregator's /healthz refused
	// for 60 s).
	creds := filepath.Join(o.Dir, "creds")
	if err := os.MkdirAll(creds, 0o700); err != nil {
		return fail(err)
	}
	secrets := map[string]string{}
	names := []string{"hub-admin", "site", "operator"}
	for _, h := range append([]string{o.Host}, o.ExtraHosts...) {
		names = append(names, "agent-"+h)
	}
	for _, n := range names {
		if secrets[n], err = newSecret(filepath.Join(creds, n+".pw")); err != nil {
			return fail(err)
		}
	}
	aggCfg := filepath.Join(o.Dir, "aggregator.yaml")
	err = os.WriteFile(aggCfg, fmt.Appendf(nil, `name: hub-1
nats: {host: 127.0.0.1, port: -1, leaf_host: 127.0.0.1, leaf_port: -1, store_dir: %s,
  admin_password_file: %s, sites: [{site: %s, password_file: %s}]}
redis: {addr: %s}
http: 127.0.0.1:0
%s
`, filepath.Join(o.Dir, "js"), filepath.Join(creds, "hub-admin.pw"), o.Site, filepath.Join(creds, "site.pw"),
		s.Redis.Addr, o.AggExtra), 0o644)
	if err != nil {
		return fail(err)
	}
	if s.Agg, err = Start("aggregator", o.Dir, nil, bins.Aggregator, "--config", aggCfg); err != nil {
		return fail(err)
	}
	addrs, err := WaitAggregator(ctx, s.Agg, 60*time.Second)
	if err != nil {
		return fail(fmt.Errorf("aggregator: %w", err))
	}
	s.APIURL = "http://" + addrs.HTTP
	s.HubURL = fmt.Sprintf("nats://aggregator:%s@%s", secrets["hub-admin"], addrs.Client)
	if err := WaitHTTP(ctx, s.APIURL+"/healthz", 60*time.Second); err != nil {
		return fail(fmt.Errorf("aggregator: %w\n%s", err, s.Agg.Tail(4000)))
	}
	leafAddr := addrs.Leaf
	if o.LeafVia != nil {
		if leafAddr, err = o.LeafVia(leafAddr); err != nil {
			return fail(err)
		}
	}
	// The site leaf: deploy/leaf.conf plus its users (deploy/leaf-agents.sh).
	users := []string{o.Site, "--operator", filepath.Join(creds, "operator.pw")}
	for _, h := range append([]string{o.Host}, o.ExtraHosts...) {
		users = append(users, h+"="+filepath.Join(creds, "agent-"+h+".pw"))
	}
	auth, err := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(root, "deploy", "leaf-agents.sh")}, users...)...).Output()
	if err != nil {
		return fail(fmt.Errorf("deploy/leaf-agents.sh: %w", err))
	}
	base, err := os.ReadFile(filepath.Join(root, "deploy", "leaf.conf"))
	if err != nil {
		return fail(err)
	}
	leafCfg := filepath.Join(o.Dir, "leaf.conf")
	if err := os.WriteFile(leafCfg, append(append(base, '\n'), auth...), 0o600); err != nil {
		return fail(err)
	}
	s.Leaf, err = Start("leaf", o.Dir, []string{fmt.Sprintf("EDGEPULSE_HUB_LEAF_URL=nats-leaf://%s:%s@%s", o.Site, secrets["site"], leafAddr)},
		bins.NATSServer, "-c", leafCfg, "-p", "-1", "-m", "0")
	if err != nil {
		return fail(err)
	}
	if s.leafAddr, _, err = WaitNATS(ctx, s.Leaf, false, 30*time.Second); err != nil {
		return fail(fmt.Errorf("leaf: %w", err))
	}
	s.LeafURL = fmt.Sprintf("nats://operator:%s@%s", secrets["operator"], s.leafAddr)
	if o.NoAgent {
		return s, nil
	}
	if s.agentCfg, err = s.writeAgentConfig("agent", o.Host, o.AgentExtra); err != nil {
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

// RestartAgent starts the stack's agent again (after Agent.Stop) on the
// same config and data directory.
func (s *Stack) RestartAgent() error {
	if s.Agent != nil && !s.Agent.Exited() {
		return nil
	}
	p, err := Start("agent", s.dir, nil, s.Bins.Agent, "run", "--config", s.agentCfg)
	if err != nil {
		return err
	}
	s.Agent = p
	return nil
}
