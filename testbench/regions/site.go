package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// site is a leaf node (deploy/leaf.conf, every hub of its home region
// then every hub of its fallback region) and one agent on synthetic /proc.
type site struct {
	name, home  string
	dir         string
	client, mon int
	leaf, agent *harness.Proc
	hubs        string // the EDGEPULSE_HUB_LEAF_URL list
}

func (s *site) start(bins harness.Bins, root, procSrc string) error {
	var err error
	for _, p := range []*int{&s.client, &s.mon} {
		if *p, err = freePort(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	s.leaf, err = harness.Start("leaf-"+s.name, s.dir, []string{"EDGEPULSE_HUB_LEAF_URL=" + s.hubs},
		bins.NATSServer, "-c", filepath.Join(root, "deploy", "leaf.conf"), "-n", "leaf-"+s.name, "-p", strconv.Itoa(s.client), "-m", strconv.Itoa(s.mon))
	if err != nil {
		return err
	}
	proc := filepath.Join(s.dir, "proc")
	if err := harness.CopyTree(procSrc, proc); err != nil {
		return err
	}
	cfg := filepath.Join(s.dir, "agent.yaml")
	err = os.WriteFile(cfg, fmt.Appendf(nil, `site: %s
host: host-%s
nats_url: nats://127.0.0.1:%d
interval: 1s
window: 5s
lateness: 200ms
procfs: %s
data_dir: %s
metrics_listen: "off"
`, s.name, s.name, s.client, proc, filepath.Join(s.dir, "agent")), 0o644)
	if err != nil {
		return err
	}
	s.agent, err = harness.Start("agent-"+s.name, s.dir, nil, bins.Agent, "run", "--config", cfg)
	return err
}

func (s *site) stop() {
	for _, p := range []*harness.Proc{s.agent, s.leaf} {
		if p != nil {
			p.Stop()
		}
	}
}

// hubPort is the leaf port of the hub the leaf is connected to now.
func (s *site) hubPort() (int, error) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/leafz", s.mon))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var lz struct {
		Leafs []struct {
			Port int `json:"port"`
		} `json:"leafs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&lz); err != nil {
		return 0, err
	}
	if len(lz.Leafs) == 0 {
		return 0, errors.New("no leaf connection")
	}
	return lz.Leafs[0].Port, nil
}

// hubList renders URLs as the nats-server config array the leaf's
// EDGEPULSE_HUB_LEAF_URL may hold.
func hubList(urls ...[]string) string {
	var all []string
	for _, u := range urls {
		all = append(all, u...)
	}
	return "[" + strings.Join(all, ", ") + "]"
}
