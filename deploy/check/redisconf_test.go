package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// redisProc starts bin (redis-server or redis-sentinel) on conf text
// written to dir, with args after it, and stops it at the test's end.
func redisProc(t *testing.T, bin, dir, name, conf string, args ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(path + ".log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{path}, args...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
}

// redisCLI runs redis-cli until its output matches want or 20 s pass.
func redisCLI(t *testing.T, want string, args ...string) string {
	t.Helper()
	re := regexp.MustCompile(want)
	var out []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, _ = exec.Command("redis-cli", args...).CombinedOutput()
		if re.Match(out) {
			return string(out)
		}
	}
	t.Fatalf("redis-cli %s: %q, want /%s/", strings.Join(args, " "), out, want)
	return ""
}

// TestRedisConfigs runs the example Redis configurations on real
// redis-server processes: deploy/redis-sentinel (a master, its replica and
// a sentinel that finds the master as mymaster; the master takes writes
// once the replica is in sync) and deploy/redis-cluster (three masters
// joined by redis-cli --cluster create). Ports, directories and host
// names are pointed at the test's.
func TestRedisConfigs(t *testing.T) {
	for _, bin := range []string{"redis-server", "redis-sentinel", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s missing: apt-get install -y redis-server redis-sentinel", bin)
		}
	}
	root, _ := filepath.Abs("../..")
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dir := t.TempDir()
	local := func(port int, sub string) []string {
		return []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", filepath.Join(dir, sub)}
	}

	t.Run("sentinel", func(t *testing.T) {
		mp, rp, sp := freePort(t), freePort(t), freePort(t)
		redisProc(t, "redis-server", filepath.Join(dir, "master"), "redis.conf", read("deploy/redis-sentinel/redis-master.conf"), local(mp, "master")...)
		replica := regexp.MustCompile(`(?m)^replicaof .*$`).ReplaceAllString(read("deploy/redis-sentinel/redis-replica.conf"), fmt.Sprintf("replicaof 127.0.0.1 %d", mp))
		redisProc(t, "redis-server", filepath.Join(dir, "replica"), "redis.conf", replica, local(rp, "replica")...)
		sentinel := regexp.MustCompile(`(?m)^sentinel monitor mymaster \S+ \d+`).ReplaceAllString(read("deploy/redis-sentinel/sentinel.conf"), fmt.Sprintf("sentinel monitor mymaster 127.0.0.1 %d", mp))
		redisProc(t, "redis-sentinel", filepath.Join(dir, "sentinel"), "sentinel.conf", sentinel, local(sp, "sentinel")...)
		redisCLI(t, `master_link_status:up`, "-p", fmt.Sprint(rp), "info", "replication")
		redisCLI(t, `^OK`, "-p", fmt.Sprint(mp), "set", "ep:check", "1")
		redisCLI(t, `127\.0\.0\.1\s+`+fmt.Sprint(mp), "-p", fmt.Sprint(sp), "sentinel", "get-master-addr-by-name", "mymaster")
		redisCLI(t, `noeviction`, "-p", fmt.Sprint(rp), "config", "get", "maxmemory-policy")
	})

	t.Run("cluster", func(t *testing.T) {
		conf := read("deploy/redis-cluster/redis-node.conf")
		var nodes []string
		for i := range 3 {
			p := freePort(t)
			sub := fmt.Sprintf("node%d", i)
			redisProc(t, "redis-server", filepath.Join(dir, sub), "redis.conf", conf, local(p, sub)...)
			redisCLI(t, `PONG`, "-p", fmt.Sprint(p), "ping")
			nodes = append(nodes, fmt.Sprintf("127.0.0.1:%d", p))
		}
		args := append([]string{"--cluster", "create"}, nodes...)
		redisCLI(t, `All 16384 slots covered`, append(args, "--cluster-replicas", "0", "--cluster-yes")...)
		_, port, _ := strings.Cut(nodes[0], ":")
		redisCLI(t, `cluster_state:ok`, "-p", port, "cluster", "info")
		redisCLI(t, `^OK`, "-c", "-p", port, "set", "ep:check", "1")
	})
}
