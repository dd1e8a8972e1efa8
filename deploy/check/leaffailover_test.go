package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestLeafHubFailover runs deploy/leaf.conf on a real nats-server with
// EDGEPULSE_HUB_LEAF_URL holding a list of three hubs (as
// docs/regions.md says: the home region's, then the fallback region's):
// the leaf connects to the first, moves to the second when it dies, and to
// the third (the fallback region) when the second dies too.
func TestLeafHubFailover(t *testing.T) {
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(root, "bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/nats-server missing: make bin/nats-server")
	}
	hubs := make([]*server.Server, 3)
	var urls string
	for i := range hubs {
		lp := freePort(t)
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, ServerName: fmt.Sprintf("hub%d", i), NoSigs: true,
			LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: lp}})
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("hub not ready")
		}
		t.Cleanup(s.Shutdown)
		hubs[i] = s
		if i > 0 {
			urls += ", "
		}
		urls += fmt.Sprintf("nats-leaf://127.0.0.1:%d", lp)
	}
	mon, client := freePort(t), freePort(t)
	cmd := exec.Command(bin, "-c", filepath.Join(root, "deploy", "leaf.conf"), "-n", "leaf-site1", "-p", strconv.Itoa(client), "-m", strconv.Itoa(mon))
	cmd.Env = append(os.Environ(), "EDGEPULSE_HUB_LEAF_URL=["+urls+"]")
	log := filepath.Join(t.TempDir(), "leaf.log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	connected := func(want int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			n := hubs[want].NumLeafNodes()
			if n == 1 {
				return
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(log)
				t.Fatalf("leaf not connected to hub %d (leafz: %s)\n%s", want, leafz(mon), b)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	connected(0) // in order: the first URL
	hubs[0].Shutdown()
	connected(1)
	hubs[1].Shutdown()
	connected(2)
}

func leafz(port int) string {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/leafz", port))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var v any
	json.NewDecoder(resp.Body).Decode(&v)
	b, _ := json.Marshal(v)
	return string(b)
}
