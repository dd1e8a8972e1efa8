package main

import (
	"context"
	"strconv"
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
