package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// cpuMeter sums, over timed intervals, the CPU time of this process (the
// aggregator, its embedded NATS server and the publisher; frames are made
// outside the intervals) and of Redis, so a run says which of the two an
// ingest rate is bound by on a shared machine.
type cpuMeter struct {
	self, redis time.Duration
	s0, r0      time.Duration
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func redisCPUTime(ctx context.Context, rdb *redis.Client) time.Duration {
	info, err := harness.RedisInfo(ctx, rdb, "cpu")
	if err != nil {
		return 0
	}
	u, _ := strconv.ParseFloat(info["used_cpu_user"], 64)
	s, _ := strconv.ParseFloat(info["used_cpu_sys"], 64)
	return time.Duration((u + s) * float64(time.Second))
}

func (m *cpuMeter) start(ctx context.Context, rdb *redis.Client) {
	m.s0, m.r0 = selfCPU(), redisCPUTime(ctx, rdb)
}

func (m *cpuMeter) stop(ctx context.Context, rdb *redis.Client) {
	m.self += selfCPU() - m.s0
	m.redis += redisCPUTime(ctx, rdb) - m.r0
}

// topCommands is Redis's INFO commandstats, the n commands that took the
// most time: name calls=… usec=… (commands run by scripts included, under
// their own names, and in the script's time).
func topCommands(ctx context.Context, rdb *redis.Client, n int) string {
	info, err := harness.RedisInfo(ctx, rdb, "commandstats")
	if err != nil {
		return err.Error()
	}
	type cmd struct {
		name        string
		calls, usec int64
	}
	var cs []cmd
	for k, v := range info {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		c := cmd{name: name}
		for _, f := range strings.Split(v, ",") {
			if x, ok := strings.CutPrefix(f, "calls="); ok {
				c.calls, _ = strconv.ParseInt(x, 10, 64)
			} else if x, ok := strings.CutPrefix(f, "usec="); ok {
				c.usec, _ = strconv.ParseInt(x, 10, 64)
			}
		}
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b cmd) int { return cmp.Compare(b.usec, a.usec) })
	var out []string
	for _, c := range cs[:min(n, len(cs))] {
		out = append(out, fmt.Sprintf("%s calls=%d s=%.1f", c.name, c.calls, float64(c.usec)/1e6))
	}
	return strings.Join(out, "; ")
}
