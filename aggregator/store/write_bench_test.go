package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
)

// redisCPU is Redis's used_cpu_user + used_cpu_sys, in seconds.
func redisCPU(b *testing.B, s *Store) float64 {
	info, err := s.rdb.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, l := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}

// BenchmarkWrite applies frames of 450 series (16 agents' frames per
// Write, as the aggregator batches them) to a real Redis within an hour
// (records appended; the seal of an hour happens once per agent-hour and
// is not in this loop) and reports the aggregator's and Redis's CPU per
// window.
func BenchmarkWrite(b *testing.B) {
	s := openStore(&testing.T{})
	ctx := context.Background()
	const agents, series = 16, 450
	base := time.Now().Add(-2*time.Hour).UnixMilli() / HourMs * HourMs
	batches := make([]*codec.Batch, agents)
	for a := range batches {
		bt := &codec.Batch{Version: codec.Version, Agent: fmt.Sprintf("s1/h%d", a), Site: "s1", Host: fmt.Sprintf("h%d", a), Width: 60_000}
		for i := range series {
			bt.Series = append(bt.Series, codec.Series{ID: uint32(i), Name: fmt.Sprintf("node_metric_%d", i)})
			v := float64(i*a) * 1.37
			bt.Rollups = append(bt.Rollups, codec.Rollup{ID: uint32(i), Count: 60, Sum: 60 * v, Min: v / 2, Max: v * 2, First: v, Last: v, Quantiles: []float64{v, v * 1.5, v * 1.9}})
		}
		batches[a] = bt
	}
	cpu0 := redisCPU(b, s)
	b.ResetTimer()
	for i := range b.N {
		w := s.NewWrite()
		for a, bt := range batches {
			bt.Seq = uint64(i + 1)
			bt.Start = base + int64(i%59)*60_000
			if err := w.Add(ctx, bt); err != nil {
				b.Fatal(err)
			}
			w.MarkApplied(ctx, bt.Agent, bt.Seq)
			_ = a
		}
		if err := w.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N * agents * series)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/window")
	b.ReportMetric((redisCPU(b, s)-cpu0)*1e9/n, "redis_ns/window")
	if testing.Verbose() {
		st, _ := s.rdb.Info(ctx, "commandstats").Result()
		b.Log(st)
	}
}
