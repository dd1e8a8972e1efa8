package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/edgepulse/edgepulse/aggregator"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// member is one aggregator process (embedded hub) of a region.
type member struct {
	name                     string
	cfg, dir, logDir         string
	client, leaf, cluster, h int
	proc                     *harness.Proc
}

// region is three members in one JetStream cluster over one Redis.
type region struct {
	name    string
	redis   *harness.Redis
	members []*member
}

func (m *member) start(bin string) error {
	p, err := harness.Start(m.name, m.logDir, nil, bin, "--config", m.cfg)
	m.proc = p
	return err
}

func (m *member) api() string     { return fmt.Sprintf("http://127.0.0.1:%d", m.h) }
func (m *member) leafURL() string { return fmt.Sprintf("nats-leaf://127.0.0.1:%d", m.leaf) }
func (m *member) natsURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", m.client) }

// pause stops (SIGSTOP) or resumes (SIGCONT) the process: a region whose
// API does not answer.
func (m *member) pause(stop bool) {
	sig := syscall.SIGCONT
	if stop {
		sig = syscall.SIGSTOP
	}
	syscall.Kill(m.proc.Cmd.Process.Pid, sig)
}

func (m *member) stats() (aggregator.Stats, error) {
	var st aggregator.Stats
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(m.api() + "/statz")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// newRegion allocates ports and the Redis of a region; configure writes
// the members' configs once both regions' ports are known.
func newRegion(ctx context.Context, name, dir string) (*region, error) {
	r := &region{name: name}
	var err error
	rdir := filepath.Join(dir, name)
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, err
	}
	if r.redis, err = harness.StartRedis(ctx, rdir); err != nil {
		return nil, err
	}
	for i := range 3 {
		m := &member{name: fmt.Sprintf("%s-%d", name, i), logDir: dir, dir: filepath.Join(rdir, fmt.Sprint(i))}
		for _, p := range []*int{&m.client, &m.leaf, &m.cluster, &m.h} {
			if *p, err = freePort(); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return nil, err
		}
		r.members = append(r.members, m)
	}
	return r, nil
}

// configure writes each member's aggregator.yaml: a JetStream cluster per
// region, the pre-aggregation rule, and the other region as the global
// query's peer.
func (r *region) configure(peer *region) error {
	var routes []string
	for _, m := range r.members {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", m.cluster))
	}
	for i, m := range r.members {
		peers := slices.Delete(slices.Clone(routes), i, i+1)
		m.cfg = filepath.Join(m.dir, "aggregator.yaml")
		cfg := fmt.Sprintf(`name: %s
nats:
  host: 127.0.0.1
  port: %d
  leaf_host: 127.0.0.1
  leaf_port: %d
  store_dir: %s
  cluster: {name: ep-%s, host: 127.0.0.1, port: %d, routes: [%s]}
partitions: %d
redis: {addr: %s}
http: 127.0.0.1:%d
ack_wait: 5s
membership: {heartbeat: 1s, ttl: 5s}
limits: {max_series: 200000, max_samples: 50000000}
regions:
  name: %s
  timeout: 1s
  peers: [{name: %s, url: %s}]
preagg:
  deadline: 5s
  rules:
    - {name: site_cpu_busy, op: sum, select: 'node_cpu_seconds_total{mode!="idle"}', by: [site]}
`, m.name, m.client, m.leaf, filepath.Join(m.dir, "js"), r.name, m.cluster, strings.Join(peers, ", "), partitions,
			r.redis.Addr, m.h, r.name, peer.name, peer.members[0].api())
		if err := os.WriteFile(m.cfg, []byte(cfg), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (r *region) startAll(bin string) error {
	for _, m := range r.members {
		if err := m.start(bin); err != nil {
			return err
		}
	}
	return nil
}

func (r *region) stopAll() {
	for _, m := range r.members {
		if m.proc != nil {
			m.proc.Stop()
		}
	}
}

// settled checks that every member sees all three and the partitions are
// consumed once each.
func (r *region) settled() error {
	owned := 0
	for _, m := range r.members {
		st, err := m.stats()
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		if len(st.Members) != len(r.members) {
			return fmt.Errorf("%s sees members %v", m.name, st.Members)
		}
		owned += len(st.Owned)
	}
	if owned != partitions {
		return fmt.Errorf("region %s: %d of %d partitions consumed", r.name, owned, partitions)
	}
	return nil
}

func (r *region) clientURLs() []string {
	var out []string
	for _, m := range r.members {
		out = append(out, m.natsURL())
	}
	return out
}

func (r *region) leafURLs() []string {
	var out []string
	for _, m := range r.members {
		out = append(out, m.leafURL())
	}
	return out
}

func (r *region) logs() string {
	var b strings.Builder
	for _, m := range r.members {
		if m.proc != nil {
			fmt.Fprintf(&b, "--- %s:\n%s\n", m.name, m.proc.Tail(2000))
		}
	}
	return b.String()
}

// freePort returns a free port below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range starts at 32768 by default): a port
// from harness.FreePort can be taken by another process's outgoing
// connection between the check and the bind, and this bench binds about
// thirty.
func freePort() (int, error) {
	for range 100 {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return harness.FreePort()
}
