package security

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// Passwords of the test identities. Per-site passwords differ, so a leaf
// cannot use another site's.
const (
	adminPassword = "admin-pw-0123456789"
	apiToken      = "api-token-0123456789abcdef"
	// RedisPrefix is the aggregator's key prefix in the environment.
	RedisPrefix = "sec:"
)

func sitePassword(site string) string {
	return "pw-" + site + "-" + fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(site)))
}

// Env is a hub with mutual TLS on its leaf port and per-site leaf users
// (an edgepulse-aggregator process with its embedded hub), a private
// Redis, and the site leaves the checks start.
type Env struct {
	Dir  string
	Bins harness.Bins
	PKI  PKI

	Redis      *harness.Redis
	Agg        *harness.Proc
	HubURL     string // client URL, no credentials
	HubLeaf    string // leaf-node address, 127.0.0.1:<port>
	HubMonitor string // http://127.0.0.1:<port> (/leafz)
	APIURL     string // the aggregator's HTTP server
	Sites      []string

	leaves []*harness.Proc
}

// Start builds the binaries, makes the PKI and starts Redis and the
// aggregator for sites (the first two are the ones the checks use).
func Start(ctx context.Context, dir string, sites ...string) (*Env, error) {
	if len(sites) < 2 {
		sites = []string{"siteA", "siteB"}
	}
	bins, err := harness.BuildCheckout()
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, Bins: bins, Sites: sites}
	if e.PKI, err = MakePKI(dir); err != nil {
		return nil, err
	}
	fail := func(err error) (*Env, error) {
		e.Stop()
		return nil, err
	}
	if e.Redis, err = harness.StartRedis(ctx, dir); err != nil {
		return fail(err)
	}
	// Every port is the aggregator's own (-1, :0), read from its log.
	var users strings.Builder
	for _, s := range sites {
		fmt.Fprintf(&users, "    - {site: %s, password: %q}\n", s, sitePassword(s))
	}
	cfg := fmt.Sprintf(`name: sec-hub
partitions: 4
nats:
  host: 127.0.0.1
  port: -1
  leaf_host: 127.0.0.1
  leaf_port: -1
  http_port: -1
  store_dir: %s
  leaf_tls: {cert_file: %s, key_file: %s, ca_file: %s}
  admin_password: %q
  sites:
%sredis: {addr: %s, prefix: %q}
http: 127.0.0.1:0
auth: {bearer_token: %q}
`, filepath.Join(dir, "js"), e.PKI.HubCert, e.PKI.HubKey, e.PKI.CA, adminPassword,
		users.String(), e.Redis.Addr, RedisPrefix, apiToken)
	cfgPath := filepath.Join(dir, "aggregator.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return fail(err)
	}
	if e.Agg, err = harness.Start("aggregator", dir, nil, bins.Aggregator, "--config", cfgPath); err != nil {
		return fail(err)
	}
	addrs, err := harness.WaitAggregator(ctx, e.Agg, 60*time.Second)
	if err != nil {
		return fail(err)
	}
	monitor, err := harness.WaitMonitor(ctx, e.Agg, 10*time.Second)
	if err != nil {
		return fail(err)
	}
	e.HubURL, e.HubLeaf = "nats://"+addrs.Client, addrs.Leaf
	e.HubMonitor, e.APIURL = "http://"+monitor, "http://"+addrs.HTTP
	if err := harness.WaitHTTP(ctx, e.APIURL+"/healthz", 60*time.Second); err != nil {
		return fail(fmt.Errorf("aggregator: %w\n%s", err, e.Agg.Tail(4000)))
	}
	return e, nil
}

// AdminURL is the hub client URL with the aggregator's admin user.
func (e *Env) AdminURL() string {
	return strings.Replace(e.HubURL, "nats://", "nats://aggregator:"+adminPassword+"@", 1)
}

// LeafOptions describe a site leaf node.
type LeafOptions struct {
	Name     string // server_name, as /leafz shows it
	Site     string // the hub user it connects as
	Password string // default the site's password
	// TLS: "good" (trusted client certificate), "none" (plaintext),
	// "rogue" (certificate of another CA), "nocert" (TLS, no certificate).
	TLS string
	// Agents are per-host users on the leaf that may publish only their
	// own host's subjects; a user "gateway" with every permission stands
	// for a compromised gateway.
	Agents []string
}

// Leaf is a running site leaf.
type Leaf struct {
	*harness.Proc
	Name      string
	ClientURL string // nats://127.0.0.1:<port>, add user:password@
}

// URL returns the leaf's client URL with user and password.
func (l *Leaf) URL(user, password string) string {
	return strings.Replace(l.ClientURL, "nats://", "nats://"+user+":"+password+"@", 1)
}

// AgentPassword is the leaf password of host's agent.
func AgentPassword(host string) string { return "agent-" + host }

// GatewayPassword is the leaf password of the all-powerful gateway user.
const GatewayPassword = "gateway-pw"

// agentPermissions is the leaf-side per-host template (see
// docs/security.md): an agent publishes only its own telemetry and reads
// only its own requests and config.
func agentPermissions(site, host string) string {
	q := func(v ...string) string {
		for i := range v {
			v[i] = fmt.Sprintf("%q", v[i])
		}
		return "[" + strings.Join(v, ", ") + "]"
	}
	return fmt.Sprintf("{publish: {allow: %s}, subscribe: {allow: %s}}",
		q("tele."+site+"."+host, "_INBOX.>", "ep.config.get."+site+"."+host, "ep.agent."+site+"."+host+".>", "ep.time."+site+"."+host),
		q("_INBOX.>", "ep.agent."+site+"."+host+".>", "$SRV.>", "ep.config.kv._all", "ep.config.kv."+site+"._site",
			"ep.config.kv."+site+"."+host))
}

// StartLeaf starts a stock nats-server leaf node connected to the hub.
func (e *Env) StartLeaf(ctx context.Context, o LeafOptions) (*Leaf, error) {
	if o.Password == "" {
		o.Password = sitePassword(o.Site)
	}
	var tls string
	switch o.TLS {
	case "good":
		tls = fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q, timeout: 5 }", e.PKI.LeafCert, e.PKI.LeafKey, e.PKI.CA)
	case "rogue":
		tls = fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q, timeout: 5 }", e.PKI.RogueLeafCert, e.PKI.RogueLeafKey, e.PKI.CA)
	case "nocert":
		tls = fmt.Sprintf("tls { ca_file: %q, timeout: 5 }", e.PKI.CA)
	case "none":
	default:
		return nil, fmt.Errorf("security: leaf TLS mode %q", o.TLS)
	}
	var auth string
	if len(o.Agents) > 0 {
		var users strings.Builder
		fmt.Fprintf(&users, "    {user: gateway, password: %q}\n", GatewayPassword)
		for _, h := range o.Agents {
			fmt.Fprintf(&users, "    {user: %s, password: %q, permissions: %s}\n", h, AgentPassword(h), agentPermissions(o.Site, h))
		}
		auth = "authorization {\n  users: [\n" + users.String() + "  ]\n}\n"
	}
	conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:-1
max_payload: 8MB
%s
leafnodes {
  reconnect: 1s
  remotes = [
    {
      url: "nats-leaf://%s:%s@%s"
      compression: s2_best
      %s
    }
  ]
}
`, o.Name, auth, o.Site, o.Password, e.HubLeaf, tls)
	path := filepath.Join(e.Dir, o.Name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	p, err := harness.Start(o.Name, e.Dir, nil, e.Bins.NATSServer, "-c", path)
	if err != nil {
		return nil, err
	}
	e.leaves = append(e.leaves, p)
	client, _, err := harness.WaitNATS(ctx, p, false, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("leaf %s: %w", o.Name, err)
	}
	return &Leaf{Proc: p, Name: o.Name, ClientURL: "nats://" + client}, nil
}

// Leafz returns the server names of the leaves connected to the hub.
func (e *Env) Leafz() ([]string, error) {
	resp, err := http.Get(e.HubMonitor + "/leafz")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var lz struct {
		Leafs []struct {
			Name string `json:"name"`
		} `json:"leafs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&lz); err != nil {
		return nil, fmt.Errorf("/leafz: %w", err)
	}
	var out []string
	for _, l := range lz.Leafs {
		out = append(out, l.Name)
	}
	return out, nil
}

// Stats is the part of the aggregator's /statz the checks read.
type Stats struct {
	Applied      uint64
	DecodeErrors uint64
	Rejected     map[string]uint64
}

// AggStats reads /statz.
func (e *Env) AggStats() (Stats, error) {
	var st Stats
	resp, err := http.Get(e.APIURL + "/statz")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// Stop ends every process.
func (e *Env) Stop() {
	for _, p := range e.leaves {
		p.Stop()
	}
	if e.Agg != nil {
		e.Agg.Stop()
	}
	if e.Redis != nil {
		e.Redis.Stop()
	}
}

// Logs returns the tails of the process logs.
func (e *Env) Logs() string {
	var b strings.Builder
	for _, p := range append([]*harness.Proc{e.Agg}, e.leaves...) {
		if p != nil {
			fmt.Fprintf(&b, "--- %s:\n%s\n", p.Name, p.Tail(2500))
		}
	}
	return b.String()
}
