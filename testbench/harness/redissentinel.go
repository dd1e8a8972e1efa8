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

// SentinelMaster is the master name the sentinels of StartRedisSentinel
// monitor (redis.master_name).
const SentinelMaster = "mymaster"

// RedisSentinel is a master, one replica and three sentinels (quorum 2,
// down-after-milliseconds 1000), each a private process on free loopback
// ports.
type RedisSentinel struct {
	Master, Replica *Redis  // as started; after a failover their roles swap
	Sentinels       []*Proc // redis-server --sentinel
	SentinelAddrs   []string
	MasterName      string
}

// StartRedisSentinel starts the master, the replica (replicaof the master)
// and three sentinels, and waits until the replica is in sync and every
// sentinel knows the replica and the two other sentinels, so that a
// failover can start as soon as the master goes. It fails with the
// install command when redis-server is missing.
func StartRedisSentinel(ctx context.Context, dir string) (*RedisSentinel, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("harness: redis-server not found; install it with: apt-get update && apt-get install -y redis-server redis-sentinel")
	}
	s := &RedisSentinel{MasterName: SentinelMaster}
	fail := func(err error) (*RedisSentinel, error) {
		s.Stop()
		return nil, err
	}
	// redis-server and Sentinel must be told their ports: each start is
	// retried on another port when another process took it (OnFreePorts).
	start := func(name string, extra ...string) (*Redis, error) {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
		var r *Redis
		err := OnFreePorts(1, func(ports []int) error {
			args := append([]string{"--port", fmt.Sprint(ports[0]), "--bind", "127.0.0.1", "--dir", d,
				"--save", "", "--appendonly", "no", "--protected-mode", "yes"}, extra...)
			p, err := Start(name, d, nil, bin, args...)
			if err != nil {
				return err
			}
			r = &Redis{Proc: p, Addr: fmt.Sprintf("127.0.0.1:%d", ports[0])}
			return waitRedisReady(ctx, p, r.Addr)
		})
		return r, err
	}
	if s.Master, err = start("redis-master"); err != nil {
		return fail(err)
	}
	host, port, _ := strings.Cut(s.Master.Addr, ":")
	if s.Replica, err = start("redis-replica", "--replicaof", host, port); err != nil {
		return fail(err)
	}
	for i := range 3 {
		d := filepath.Join(dir, fmt.Sprintf("sentinel-%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
		err := OnFreePorts(1, func(ports []int) error {
			conf := filepath.Join(d, "sentinel.conf")
			err := os.WriteFile(conf, fmt.Appendf(nil, `port %d
bind 127.0.0.1
protected-mode no
dir %s
sentinel resolve-hostnames no
sentinel monitor %s %s %s 2
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 5000
sentinel parallel-syncs %s 1
`, ports[0], d, s.MasterName, host, port, s.MasterName, s.MasterName, s.MasterName), 0o644)
			if err != nil {
				return err
			}
			p, err := Start(fmt.Sprintf("sentinel-%d", i), d, nil, bin, conf, "--sentinel")
			if err != nil {
				return err
			}
			addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
			if err := waitRedisReady(ctx, p, addr); err != nil {
				return err
			}
			s.Sentinels = append(s.Sentinels, p)
			s.SentinelAddrs = append(s.SentinelAddrs, addr)
			return nil
		})
		if err != nil {
			return fail(err)
		}
	}
	err = WaitFor(ctx, 30*time.Second, func() error {
		rdb := redis.NewClient(&redis.Options{Addr: s.Replica.Addr})
		info, err := RedisInfo(ctx, rdb, "replication")
		rdb.Close()
		if err != nil {
			return err
		}
		if info["master_link_status"] != "up" {
			return fmt.Errorf("replica %s: master_link_status %q", s.Replica.Addr, info["master_link_status"])
		}
		for _, addr := range s.SentinelAddrs {
			sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
			m, err := sc.Master(ctx, s.MasterName).Result()
			if err == nil && (m["num-slaves"] != "1" || m["num-other-sentinels"] != "2") {
				err = fmt.Errorf("sees %s replicas and %s other sentinels", m["num-slaves"], m["num-other-sentinels"])
			}
			sc.Close()
			if err != nil {
				return fmt.Errorf("sentinel %s: %w", addr, err)
			}
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("harness: sentinel setup: %w\n%s", err, s.Logs()))
	}
	return s, nil
}

// MasterAddr is the master's address as the first sentinel that answers
// knows it (SENTINEL GET-MASTER-ADDR-BY-NAME).
func (s *RedisSentinel) MasterAddr(ctx context.Context) (string, error) {
	var errs []error
	for _, addr := range s.SentinelAddrs {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
		hp, err := sc.GetMasterAddrByName(ctx, s.MasterName).Result()
		sc.Close()
		if err == nil && len(hp) == 2 {
			return hp[0] + ":" + hp[1], nil
		}
		errs = append(errs, fmt.Errorf("sentinel %s: %v %w", addr, hp, err))
	}
	return "", errors.Join(errs...)
}

// KillMaster kills the started master with SIGKILL (a crash: no
// shutdown, no final replication).
func (s *RedisSentinel) KillMaster() { s.Master.Kill() }

// WaitFailover waits until the sentinels name another master than old
// and that node answers as a master.
func (s *RedisSentinel) WaitFailover(ctx context.Context, old string, timeout time.Duration) (string, error) {
	var now string
	err := WaitFor(ctx, timeout, func() error {
		addr, err := s.MasterAddr(ctx)
		if err != nil {
			return err
		}
		if addr == old {
			return fmt.Errorf("sentinels still name %s", old)
		}
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		info, err := RedisInfo(ctx, rdb, "replication")
		rdb.Close()
		if err != nil {
			return err
		}
		if info["role"] != "master" {
			return fmt.Errorf("%s is %s, not yet master", addr, info["role"])
		}
		now = addr
		return nil
	})
	return now, err
}

// Stop ends the sentinels, then the servers.
func (s *RedisSentinel) Stop() {
	for _, p := range s.Sentinels {
		p.Stop()
	}
	for _, r := range []*Redis{s.Replica, s.Master} {
		if r != nil {
			r.Stop()
		}
	}
}

// Logs returns the tails of every process log, for failure messages.
func (s *RedisSentinel) Logs() string {
	var b strings.Builder
	for _, r := range []*Redis{s.Master, s.Replica} {
		if r != nil {
			fmt.Fprintf(&b, "--- %s (%s):\n%s\n", r.Name, r.Addr, r.Tail(1500))
		}
	}
	for _, p := range s.Sentinels {
		fmt.Fprintf(&b, "--- %s:\n%s\n", p.Name, p.Tail(1500))
	}
	return b.String()
}
