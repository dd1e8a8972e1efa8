package store

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// BenchmarkLogExtract: the read script asked for one series of a
// 450-series agent's open log holding a whole hour (60 frames, a 1.4 MB
// log, a 324 KB index), as a fleet-wide query asks every agent's log.
// layout: every frame in the first frame's order (the read by layout);
// search: one frame in another order (the search of the whole index, the
// script's only way before the layout read). redis-µs/op is Redis's own
// time per call (INFO commandstats), what a query's Redis time is made of.
//
//	go test -run x -bench LogExtract ./aggregator/store/
func BenchmarkLogExtract(b *testing.B) {
	ctx := context.Background()
	r, err := harness.StartRedis(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	const frames, series, entry = 60, 450, 52
	sid := func(j int) uint64 { return 0x9e3779b97f4a7c15 * uint64(j+1) }
	build := func(reorder bool) (log, idx string) {
		var ib []byte
		loglen := 0
		for f := range frames {
			ib = append(ib, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
			ib = binary.LittleEndian.AppendUint32(ib, uint32(loglen))
			for k := range series {
				j := k
				if reorder && f == 1 {
					j = series - 1 - k
				}
				ib = binary.BigEndian.AppendUint64(ib, sid(j))
				off := k * entry
				ib = append(ib, byte(off), byte(off>>8), byte(off>>16), entry)
			}
			loglen += series * entry
		}
		return strings.Repeat("x", loglen), string(ib)
	}
	for _, c := range []struct {
		name    string
		reorder bool
	}{{"layout", false}, {"search", true}} {
		b.Run(c.name, func(b *testing.B) {
			log, idx := build(c.reorder)
			if err := rdb.MSet(ctx, "o", log, "oi", idx).Err(); err != nil {
				b.Fatal(err)
			}
			sha, err := rdb.ScriptLoad(ctx, logExtractSrc).Result()
			if err != nil {
				b.Fatal(err)
			}
			rdb.ConfigResetStat(ctx)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				v, err := rdb.EvalSha(ctx, sha, []string{"o", "oi"}, extractArgs([]uint64{sid(i % series)})...).Result()
				if err != nil {
					b.Fatal(err)
				}
				if p, whole, ok, err := extractReply(v); err != nil || !ok || whole || len(p) != frames*entry {
					b.Fatalf("reply: %d B, whole %v, ok %v, %v", len(p), whole, ok, err)
				}
			}
			b.StopTimer()
			info, _ := rdb.Info(ctx, "commandstats").Result()
			for _, l := range strings.Split(info, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "cmdstat_evalsha:"); ok {
					for _, f := range strings.Split(v, ",") {
						if x, ok := strings.CutPrefix(f, "usec_per_call="); ok {
							us, _ := strconv.ParseFloat(x, 64)
							b.ReportMetric(us, "redis-µs/op")
						}
					}
				}
			}
		})
	}
}
