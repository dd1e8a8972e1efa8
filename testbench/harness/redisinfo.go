package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

var setRE = regexp.MustCompile(`SET: ([0-9.]+) requests per second`)

// RedisBenchmarkSet runs redis-benchmark -P 64 -t set (2 M requests)
// against addr and returns its SET rate, the ceiling the load and
// capacity commands compare ingest with. It leaves keys behind: flush
// the database afterwards.
func RedisBenchmarkSet(addr string) (float64, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	out, err := exec.Command("redis-benchmark", "-h", host, "-p", port, "-P", "64", "-t", "set", "-n", "2000000", "-q").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark: %w: %s (install with apt-get install -y redis-tools)", err, out)
	}
	m := setRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("redis-benchmark: no SET rate in %q", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// RedisInfo returns the name: value fields of one INFO section.
func RedisInfo(ctx context.Context, rdb redis.UniversalClient, section string) (map[string]string, error) {
	info, err := rdb.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("redis INFO %s: %w", section, err)
	}
	out := make(map[string]string)
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out, nil
}

// RedisInfoInt is one integer field of an INFO section.
func RedisInfoInt(ctx context.Context, rdb redis.UniversalClient, section, field string) (int64, error) {
	info, err := RedisInfo(ctx, rdb, section)
	if err != nil {
		return 0, err
	}
	v, ok := info[field]
	if !ok {
		return 0, fmt.Errorf("redis INFO %s: no field %s", section, field)
	}
	return strconv.ParseInt(v, 10, 64)
}

// RedisUsedMemory is INFO memory used_memory minus mem_clients_normal:
// the memory of the data, without the buffers of client connections
// (a writer's pipelines).
func RedisUsedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	info, err := RedisInfo(ctx, rdb, "memory")
	if err != nil {
		return 0, err
	}
	used, err1 := strconv.ParseInt(info["used_memory"], 10, 64)
	clients, err2 := strconv.ParseInt(info["mem_clients_normal"], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("redis INFO memory: %w", err)
	}
	return used - clients, nil
}

// RedisSettledMemory SCANs every key first, so that keys past their
// expiry are deleted now (SCAN expires what it visits) rather than by
// Redis's sampling active-expiry cycle, and then returns RedisUsedMemory.
func RedisSettledMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	var cursor uint64
	for {
		_, next, err := rdb.Scan(ctx, cursor, "*", 10_000).Result()
		if err != nil {
			return 0, fmt.Errorf("redis SCAN: %w", err)
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return RedisUsedMemory(ctx, rdb)
}
