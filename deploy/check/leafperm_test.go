package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestLeafSitePermissions runs deploy/hub/hub-1.conf's authorization and
// leafnodes TLS blocks with deploy/leaf-tls.conf's remote on real
// nats-server processes, and checks that site1's leaf delivers
// tele.site1.> to the hub but not tele.site2.>, and receives alerts.site1.>
// but not alerts.site2.>.
func TestLeafSitePermissions(t *testing.T) {
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(root, "bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		t.Skip("bin/nats-server missing: make bin/nats-server")
	}
	dir := t.TempDir()
	if out, err := exec.Command(filepath.Join(root, "deploy/certs/make-certs.sh"), dir).CombinedOutput(); err != nil {
		t.Fatalf("make-certs: %v\n%s", err, out)
	}
	hubConf, err := os.ReadFile(filepath.Join(root, "deploy/hub/hub-1.conf"))
	if err != nil {
		t.Fatal(err)
	}
	leafConf, err := os.ReadFile(filepath.Join(root, "deploy/leaf-tls.conf"))
	if err != nil {
		t.Fatal(err)
	}
	hubPort, hubLeaf, leafPort := freePort(t), freePort(t), freePort(t)
	// Keep authorization and leafnodes as written; drop the cluster, point
	// ports, store and certificates at the test's.
	h := string(hubConf)
	h = regexp.MustCompile(`(?s)cluster \{.*?\n\}\n`).ReplaceAllString(h, "")
	h = regexp.MustCompile(`listen: 0.0.0.0:4222`).ReplaceAllString(h, fmt.Sprintf("listen: 127.0.0.1:%d", hubPort))
	h = regexp.MustCompile(`listen: 0.0.0.0:7422`).ReplaceAllString(h, fmt.Sprintf("listen: 127.0.0.1:%d", hubLeaf))
	h = regexp.MustCompile(`http: .*`).ReplaceAllString(h, "")
	h = regexp.MustCompile(`store_dir: .*`).ReplaceAllString(h, "store_dir: "+filepath.Join(dir, "js"))
	h = regexp.MustCompile(`"deploy/certs/`).ReplaceAllString(h, `"`+dir+"/")
	l := regexp.MustCompile(`listen: 127.0.0.1:4222`).ReplaceAllString(string(leafConf), fmt.Sprintf("listen: 127.0.0.1:%d", leafPort))
	l = regexp.MustCompile(`http: .*`).ReplaceAllString(l, "")
	l = regexp.MustCompile(`"deploy/certs/`).ReplaceAllString(l, `"`+dir+"/")
	hubFile, leafFile := filepath.Join(dir, "hub.conf"), filepath.Join(dir, "leaf.conf")
	if err := os.WriteFile(hubFile, []byte(h), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(leafFile, []byte(l), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func(conf string, env ...string) {
		cmd := exec.Command(bin, "-c", conf)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	start(hubFile)
	start(leafFile, fmt.Sprintf("EDGEPULSE_HUB_LEAF_URL=nats-leaf://site1:change-me-site1@localhost:%d", hubLeaf))

	connect := func(url string) *nats.Conn {
		deadline := time.Now().Add(10 * time.Second)
		for {
			nc, err := nats.Connect(url)
			if err == nil {
				t.Cleanup(nc.Close)
				return nc
			}
			if time.Now().After(deadline) {
				t.Fatalf("connect %s: %v", url, err)
			}
			time.Sleep(50 * time.Millisecond) // polling for start-up, not for correctness
		}
	}
	hub := connect(fmt.Sprintf("nats://aggregator:change-me-aggregator@127.0.0.1:%d", hubPort))
	leaf := connect(fmt.Sprintf("nats://127.0.0.1:%d", leafPort))

	hubSub, err := hub.SubscribeSync("tele.>")
	if err != nil {
		t.Fatal(err)
	}
	leafSub, err := leaf.SubscribeSync("alerts.>")
	if err != nil {
		t.Fatal(err)
	}
	hub.Flush()
	leaf.Flush()
	// Interest propagates over the leaf connection asynchronously: publish
	// the allowed subjects until they arrive.
	got := func(sub *nats.Subscription, pub *nats.Conn, subj string) string {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			pub.Publish(subj, []byte(subj))
			pub.Flush()
			if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
				return m.Subject
			}
		}
		return ""
	}
	if s := got(hubSub, leaf, "tele.site1.h1"); s != "tele.site1.h1" {
		t.Fatalf("hub did not receive tele.site1.h1 from site1's leaf (got %q)", s)
	}
	if s := got(leafSub, hub, "alerts.site1.x"); s != "alerts.site1.x" {
		t.Fatalf("site1's leaf did not receive alerts.site1.x (got %q)", s)
	}
	// Now the forbidden directions, followed by an allowed marker: the
	// marker arriving first proves the forbidden message was dropped.
	leaf.Publish("tele.site2.h1", nil)
	leaf.Publish("tele.site1.marker", nil)
	leaf.Flush()
	for {
		m, err := hubSub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("hub: waiting for marker: %v", err)
		}
		if m.Subject == "tele.site2.h1" {
			t.Fatal("hub received tele.site2.h1 from site1's leaf")
		}
		if m.Subject == "tele.site1.marker" {
			break
		}
	}
	hub.Publish("alerts.site2.x", nil)
	hub.Publish("alerts.site1.marker", nil)
	hub.Flush()
	for {
		m, err := leafSub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("leaf: waiting for marker: %v", err)
		}
		if m.Subject == "alerts.site2.x" {
			t.Fatal("site1's leaf received alerts.site2.x")
		}
		if m.Subject == "alerts.site1.marker" {
			break
		}
	}
}
