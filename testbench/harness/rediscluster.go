package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of masters without replicas, each a
// private redis-server on free loopback ports (client and bus).
type RedisCluster struct {
	Nodes []*Redis // the masters, in the order the slots were first assigned
	Addrs []string // their client addresses, the seeds for redis.addrs
}

// StartRedisCluster starts masters redis-servers with cluster-enabled,
// joins them with redis-cli --cluster create (slots spread evenly, no
// replicas) and waits until every node reports cluster_state:ok. It fails
// with the install command when redis-server is missing.
func StartRedisCluster(ctx context.Context, dir string, masters int) (*RedisCluster, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("harness: redis-server not found; install it with: apt-get update && apt-get install -y redis-server")
	}
	if masters < 3 {
		return nil, fmt.Errorf("harness: a Redis Cluster needs at least 3 masters, not %d", masters)
	}
	c := &RedisCluster{}
	fail := func(err error) (*RedisCluster, error) {
		c.Stop()
		return nil, err
	}
	for i := range masters {
		d := filepath.Join(dir, fmt.Sprintf("redis-cluster-%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
		// redis-server must be told its ports: retried on other ports
		// when another process took one first (OnFreePorts).
		err := OnFreePorts(2, func(ports []int) error {
			p, err := Start(fmt.Sprintf("redis-cluster-%d", i), d, nil, bin,
				"--port", fmt.Sprint(ports[0]), "--bind", "127.0.0.1", "--dir", d,
				"--save", "", "--appendonly", "no", "--protected-mode", "yes",
				"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
				"--cluster-port", fmt.Sprint(ports[1]), "--cluster-node-timeout", "2000")
			if err != nil {
				return err
			}
			addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
			if err := waitRedisReady(ctx, p, addr); err != nil {
				return err
			}
			c.Nodes = append(c.Nodes, &Redis{Proc: p, Addr: addr})
			c.Addrs = append(c.Addrs, addr)
			return nil
		})
		if err != nil {
			return fail(err)
		}
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("harness: redis-cli --cluster create: %w\n%s", err, out))
	}
	if err := c.WaitOK(ctx, 30*time.Second); err != nil {
		return fail(err)
	}
	return c, nil
}

// WaitOK waits until every node reports cluster_state:ok and sees every
// other node.
func (c *RedisCluster) WaitOK(ctx context.Context, timeout time.Duration) error {
	return WaitFor(ctx, timeout, func() error {
		for _, n := range c.Nodes {
			rdb := redis.NewClient(&redis.Options{Addr: n.Addr})
			info, err := rdb.ClusterInfo(ctx).Result()
			rdb.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", n.Addr, err)
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster_state not ok", n.Addr)
			}
			if !strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d\r", len(c.Nodes))) {
				return fmt.Errorf("%s: does not know all %d nodes yet", n.Addr, len(c.Nodes))
			}
		}
		return nil
	})
}

// NodeID is the cluster node id of the node at addr (CLUSTER MYID).
func (c *RedisCluster) NodeID(ctx context.Context, addr string) (string, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	id, err := rdb.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return "", fmt.Errorf("harness: CLUSTER MYID on %s: %w", addr, err)
	}
	return id, nil
}

// Reshard moves slots hash slots from the node at from to the node at to
// with redis-cli --cluster reshard (MIGRATE of their keys while clients
// keep writing: they see ASK and then MOVED).
func (c *RedisCluster) Reshard(ctx context.Context, from, to string, slots int) error {
	fromID, err := c.NodeID(ctx, from)
	if err != nil {
		return err
	}
	toID, err := c.NodeID(ctx, to)
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "redis-cli", "--cluster", "reshard", c.Addrs[0],
		"--cluster-from", fromID, "--cluster-to", toID, "--cluster-slots", fmt.Sprint(slots),
		"--cluster-yes", "--cluster-pipeline", "100").CombinedOutput()
	if err != nil {
		return fmt.Errorf("harness: redis-cli --cluster reshard %d slots %s→%s: %w\n%s", slots, from, to, err, tail(out, 2000))
	}
	return nil
}

// SlotsOf is the number of hash slots the node at addr serves, as that
// node sees it.
func (c *RedisCluster) SlotsOf(ctx context.Context, addr string) (int, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range slots {
		if len(s.Nodes) > 0 && s.Nodes[0].Addr == addr {
			n += int(s.End - s.Start + 1)
		}
	}
	return n, nil
}

// Stop ends every node.
func (c *RedisCluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// Logs returns the tails of the nodes' logs, for failure messages.
func (c *RedisCluster) Logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		fmt.Fprintf(&b, "--- %s (%s):\n%s\n", n.Name, n.Addr, n.Tail(1500))
	}
	return b.String()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
