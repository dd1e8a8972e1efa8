package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// queryProbe measures one kind of query beyond its latency: the CPU time
// of this process (the aggregator's query path, the HTTP client reading
// the answer) and of Redis per query, the Redis commands it ran, and,
// with -query-cpuprofile, a CPU profile of just those queries
// (<prefix>-<kind>.pprof), so a slow query says where its time goes.
type queryProbe struct {
	rdb    *redis.Client
	prefix string
	kind   string
	f      *os.File
	m      cpuMeter
	t0     time.Time
}

func startProbe(ctx context.Context, st *store.Store, rdb *redis.Client, prefix, kind string) *queryProbe {
	st.DropDecodedCache()
	p := &queryProbe{rdb: rdb, prefix: prefix, kind: kind}
	rdb.ConfigResetStat(ctx)
	if prefix != "" {
		f, err := os.Create(fmt.Sprintf("%s-%s.pprof", prefix, kind))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			p.f = f
		} else if f != nil {
			f.Close()
		}
	}
	p.m.start(ctx, rdb)
	p.t0 = time.Now()
	return p
}

// stop ends the probe of the queries that took lat (ms) and prints what
// they cost; the first query of a kind starts with the store's decoded
// chunk cache empty (startProbe drops it), so it is the cold one.
func (p *queryProbe) stop(ctx context.Context, lat []float64) {
	n := len(lat)
	wall := time.Since(p.t0)
	p.m.stop(ctx, p.rdb)
	if p.f != nil {
		pprof.StopCPUProfile()
		p.f.Close()
	}
	n = max(n, 1)
	first := math.NaN()
	if len(lat) > 0 {
		first = lat[0]
	}
	progress("query %s: first (cold) %.1f ms; per query wall %.1f ms, this process CPU %.1f ms, Redis CPU %.1f ms; Redis commands: %s",
		p.kind, first, ms(wall)/float64(n), ms(p.m.self)/float64(n), ms(p.m.redis)/float64(n), topCommands(ctx, p.rdb, 6))
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
