// Command capacity measures what a regional store costs for a real fleet
// (make capacity, issue 13): simulated hosts write days of 60 s windows at
// accelerated time through the real aggregator (in process, with its
// embedded hub) into a real redis-server with a short retention, and the
// same windows go into a Prometheus TSDB block for comparison.
//
//	go run ./testbench/capacity [-hosts 200] [-series 450] [-days 2.5] [-retention 24h]
//
// # The fleet
//
// Every host has the same series layout (fleet.go: per-CPU counters,
// memory gauges, busy and idle disks and NICs, filesystems and a long tail
// of mostly still vmstat/netstat counters) and its own levels, daily
// phase and busyness, with the value shapes of the backhaul synth
// (constants, drifting and diurnal gauges, small integers, busy, rare and
// idle counters). Frames are made with codec.NewEncoder and
// codec.DefaultWireOptions, one encoder per host, so they are exactly what
// agents send, and published through JetStream with Nats-Msg-Id like the
// agents' forwarder.
//
// # The timeline
//
// Windows run from now−days to now (now truncated to the hour), window
// by window across the fleet, one data hour at a time: the hour's frames
// are made first (not timed), then published as fast as the node absorbs
// them and waited for until applied (timed). Ingest series-windows/s is
// series-windows over the timed spans.
//
// Redis expires keys on its wall clock while the windows carry past
// timestamps, and the store expires a block at its end + retention in
// data time (PEXPIREAT). So at any moment the store should hold exactly
// the windows of [now−retention, now): everything written before data
// time now−retention expires when written (or is skipped), and only the
// last retention period builds up. A store that refreshes TTLs on the
// wall clock, or never trims, keeps everything. The run therefore reads
// used_memory at three points of data time, each after the node has
// applied every frame published so far and a SCAN of every key (which
// expires what is due at once, instead of waiting for Redis's active
// expiry cycle):
//
//	A  first+retention   one full retention period written
//	B  now−retention     the retained period starts
//	C  now               the end
//
// Between A and B the fleet writes (days − 2×retention) more data whose
// blocks are all past their expiry; a bounded store adds nothing there
// except its hourly tier (hourly_retention, default 400 days, grows by
// 1/60 of the windows). Between B and C it writes the retained period.
//
//	memory_growth_after_retention_pct = (B − A) / (C − B) × 100
//
// is what writing past the first retention period added, relative to the
// memory one retention period of windows takes: about 0 for a store
// bounded by series × retention, (days − 2×retention)/retention × 100 for
// one that keeps everything. days must exceed 2×retention.
//
//	bytes_per_window = (used_memory at C − used_memory before the first frame)
//	                   / (hosts × series × windows in [now−retention, now))
//
// used_memory here is INFO memory used_memory minus mem_clients_normal
// (connection buffers of the writer's pipelines are not data).
//
// # Prometheus
//
// The statistics of every retained window of -prom-hosts hosts (a sample:
// Prometheus's bytes per window do not depend on how many hosts there
// are, its index grows per series like its chunks), decoded from the very
// frames published (so with the wire's precision, as stored), are written
// as OpenMetrics text, one sample per statistic per window (name_count,
// _sum, _min, _max, _first, _last, _p50, _p90, _p99; the series' labels
// plus site and instance; timestamp = window end), and turned into blocks
// by promtool tsdb create-blocks-from openmetrics (2 h blocks, as
// Prometheus's head writes them before compaction). prom_tsdb_bytes_per_window
// is the bytes of the blocks (chunks, index, meta, tombstones; no WAL)
// over the windows written.
//
// # Queries
//
// With the fleet stored: query_range of one series (node_load1 of one
// host) over 24 h at a 1 min step, and of the host-scoped selector
// {instance="<host>"} (no metric name; every series of the host) over
// -host-range at a 1 min step, and of one metric fleet-wide (node_load1,
// every host) over the last hour at a 1 min step, through the HTTP API,
// -queries times each; the fleet-wide one twice, reading the open logs
// whole (fleet_query_wholelog_p99_ms, as before the log index) and
// through the log index (fleet_query_p99_ms). Each kind starts with the
// store's decoded-chunk cache emptied (Store.DropDecodedCache), so its
// first query is cold and counts in its p99 (with 50 queries the p99 is
// the slowest); each kind's line also gives that first query, the CPU of
// this process and of Redis per query and Redis's commands, and
// -query-cpuprofile writes a CPU profile per kind.
//
// # Defaults
//
// The shape is 200 hosts × 450 series over several days with a
// one-day retention: 130 M series-windows a day. The retention stays one
// day because the query API reads the hourly tier for a range that starts
// before now−retention, so a 24 h query_range only measures the minute
// tier with at least a day retained. Three days (390 M series-windows)
// take too long on the 2-core development machines for a measurement
// (about 300 µs of frame making per 450-series frame, plus the ingest at
// whatever the store reaches: 390 M at 500 k/s is 13 minutes), so the
// default is 2.5 days: 324 M series-windows written, 130 M retained at
// the end, and 12 h written between A and B. -days 3 runs the issue's
// literal shape; -hosts 20 -days 0.125 -retention 1h is a 40 s smoke run
// (its 24 h query then reads the hourly tier).
//
// The run needs promtool (Debian package prometheus), redis-server and
// redis-benchmark. Redis gets -maxmemory (noeviction), so a store that
// does not bound memory fails the run instead of exhausting the machine.
//
// Ends with
//
//	RESULT bytes_per_window=<x> prom_tsdb_bytes_per_window=<x> memory_growth_after_retention_pct=<x> series_windows_per_s=<x> ratio_to_redis_set=<r> query_p99_ms=<x> host_query_p99_ms=<x> fleet_query_p99_ms=<x> fleet_query_wholelog_p99_ms=<x>
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/aggregator"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

type options struct {
	hosts, series, sites int
	days                 float64
	retention, hourlyRet time.Duration
	promHosts            int
	queries              int
	hostRange            time.Duration
	maxMemory            string
	dir                  string
	verbose              bool
	cpuProfile           string
	queryProfile         string
}

func main() {
	var o options
	flag.IntVar(&o.hosts, "hosts", 200, "simulated hosts")
	flag.IntVar(&o.series, "series", 450, "series per host")
	flag.IntVar(&o.sites, "sites", 20, "sites the hosts are spread over")
	flag.Float64Var(&o.days, "days", 2.5, "days of 60 s windows written, ending now (must exceed 2×retention)")
	flag.DurationVar(&o.retention, "retention", 24*time.Hour, "the store's minute-tier retention (redis.retention), whole hours")
	flag.DurationVar(&o.hourlyRet, "hourly-retention", 0, "the store's hourly retention (redis.hourly_retention); 0: the store's default")
	flag.IntVar(&o.promHosts, "prom-hosts", 2, "hosts whose retained windows go into the Prometheus TSDB block")
	flag.IntVar(&o.queries, "queries", 50, "query_range probes of each kind")
	flag.DurationVar(&o.hostRange, "host-range", time.Hour, "range of the host-scoped query")
	flag.StringVar(&o.maxMemory, "maxmemory", "12gb", "Redis maxmemory (noeviction), so a store that does not bound memory fails instead of exhausting the machine")
	flag.StringVar(&o.dir, "dir", "", "work directory (default: a temporary one)")
	flag.BoolVar(&o.verbose, "v", false, "log the aggregator's warnings too (errors only by default)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run (frame making, aggregator and queries) to this file")
	flag.StringVar(&o.queryProfile, "query-cpuprofile", "", "write a CPU profile of each kind of query to <prefix>-<kind>.pprof (not with -cpuprofile)")
	flag.Parse()
	if o.cpuProfile != "" && o.queryProfile != "" {
		fmt.Fprintln(os.Stderr, "capacity: -cpuprofile and -query-cpuprofile exclude each other (one CPU profile at a time)")
		os.Exit(2)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "capacity: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(o); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "capacity:", err)
		os.Exit(1)
	}
}

func progress(format string, a ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

func (o options) validate() error {
	switch {
	case o.hosts < 1 || o.series < 1 || o.sites < 1:
		return errors.New("-hosts, -series and -sites must be ≥ 1")
	case o.retention < time.Hour || o.retention%time.Hour != 0:
		return fmt.Errorf("-retention %v must be whole hours", o.retention)
	case time.Duration(o.days*24*float64(time.Hour)) <= 2*o.retention:
		return fmt.Errorf("-days %v must exceed 2×retention (%v): the run measures memory after one retention period and again after another", o.days, 2*o.retention)
	case o.promHosts < 1 || o.promHosts > o.hosts:
		return fmt.Errorf("-prom-hosts %d must be between 1 and -hosts", o.promHosts)
	}
	return nil
}

func run(o options) error {
	if err := o.validate(); err != nil {
		return err
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		return errors.New("promtool not found; install it with: apt-get update && apt-get install -y prometheus")
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "edgepulse-capacity-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.dir = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rd, err := harness.StartRedis(ctx, o.dir)
	if err != nil {
		return err
	}
	defer rd.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer rdb.Close()
	if err := rdb.ConfigSet(ctx, "maxmemory", o.maxMemory).Err(); err != nil {
		return err
	}

	setRate, err := harness.RedisBenchmarkSet(rd.Addr)
	if err != nil {
		return err
	}
	progress("redis-benchmark -P 64 -t set: %.0f SET/s", setRate)
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		return err
	}

	cfg := aggregator.DefaultConfig()
	cfg.Name = "capacity-0"
	cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, o.dir+"/js"
	cfg.Redis.Addr = rd.Addr
	cfg.Redis.Retention = o.retention
	cfg.Redis.HourlyRetention = o.hourlyRet
	cfg.HTTP = "127.0.0.1:0"
	level := slog.LevelError
	if o.verbose {
		level = slog.LevelWarn
	}
	a, err := aggregator.New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	if err != nil {
		return err
	}
	defer a.Close()
	go a.Run(ctx)
	if err := harness.WaitFor(ctx, 60*time.Second, func() error {
		if n := len(a.Stats().Owned); n != cfg.Partitions {
			return fmt.Errorf("owns %d of %d partitions", n, cfg.Partitions)
		}
		return nil
	}); err != nil {
		return err
	}
	nc, err := nats.Connect(a.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}

	// The timeline (see the package comment).
	now := time.Now().Truncate(time.Hour)
	nWindows := int(math.Round(o.days*24)) * 60 // whole data hours
	first := now.Add(-time.Duration(nWindows) * time.Minute)
	wA := int(o.retention / time.Minute)          // one retention period written
	wB := nWindows - int(o.retention/time.Minute) // the retained period starts
	defs := hostSeries(o.series)
	hosts := make([]*simHost, o.hosts)
	encs := make([]*codec.Encoder, o.hosts)
	for i := range hosts {
		hosts[i] = newSimHost(fmt.Sprintf("s%d", i%o.sites), fmt.Sprintf("h%d", i), i, defs)
		if encs[i], err = codec.NewEncoder(codec.DefaultWireOptions()); err != nil {
			return err
		}
	}
	prom := newPromSample(hosts[:o.promHosts], defs)
	progress("fleet: %d hosts × %d series, %d windows of 60 s from %s to %s (%.0f M series-windows), retention %v: %.1f M series-windows retained at the end",
		o.hosts, len(defs), nWindows, first.Format(time.RFC3339), now.Format(time.RFC3339),
		float64(o.hosts*len(defs)*nWindows)/1e6, o.retention, float64(o.hosts*len(defs)*(nWindows-wB))/1e6)

	mem0, err := harness.RedisUsedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	progress("used_memory before the first frame: %.1f MB", float64(mem0)/1e6)
	var (
		memA, memB, memC int64
		ingest           time.Duration
		keptIngest       time.Duration // of the retained period's hours
		kept             int64         // series-windows of those hours
		published        uint64
		stored           int64 // series-windows
		frameBytes       int64
		keptCPU          cpuMeter // of the retained period's hours
	)
	for w0 := 0; w0 < nWindows; w0 += 60 {
		w1 := min(w0+60, nWindows)
		// Make this data hour's frames: host-major, two goroutines.
		hourFrames := make([][][]byte, o.hosts)
		var wg sync.WaitGroup
		var genErr error
		var mu sync.Mutex
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < o.hosts; i += 2 {
					for w := w0; w < w1; w++ {
						b := hosts[i].batch(uint64(w+1), first.Add(time.Duration(w)*time.Minute).UnixMilli())
						p, err := encs[i].Encode(nil, b)
						if err != nil {
							mu.Lock()
							genErr = err
							mu.Unlock()
							return
						}
						hourFrames[i] = append(hourFrames[i], p)
					}
				}
			}()
		}
		wg.Wait()
		if genErr != nil {
			return genErr
		}
		for i := range o.promHosts {
			if err := prom.add(i, hourFrames[i], w0 >= wB); err != nil {
				return err
			}
		}
		// Publish window-major, as the fleet would, and wait until applied.
		if w0 >= wB {
			keptCPU.start(ctx, rdb)
		}
		t0 := time.Now()
		for w := range w1 - w0 {
			for i, h := range hosts {
				p := hourFrames[i][w]
				if err := publish(js, "tele."+h.site+"."+h.host, codec.MsgID(h.site+"/"+h.host, uint64(w0+w+1)), p); err != nil {
					return err
				}
				published++
				frameBytes += int64(len(p))
			}
		}
		if err := waitApplied(ctx, js, a, published); err != nil {
			return err
		}
		ingest += time.Since(t0)
		stored += int64(o.hosts * len(defs) * (w1 - w0))
		if w0 >= wB {
			keptCPU.stop(ctx, rdb)
			keptIngest += time.Since(t0)
			kept += int64(o.hosts * len(defs) * (w1 - w0))
		}
		hourMem := int64(-1)
		if w1 == wA || w1 == wB || w1 == nWindows || (w1/60)%6 == 0 {
			if hourMem, err = harness.RedisSettledMemory(ctx, rdb); err != nil {
				return err
			}
		}
		switch w1 {
		case wA:
			memA = hourMem
		case wB:
			memB = hourMem
		}
		if w1 == nWindows {
			memC = hourMem
		}
		if hourMem >= 0 {
			progress("data %s: %.0f M series-windows written, %.0f series-windows/s so far, used_memory %+.1f MB",
				first.Add(time.Duration(w1)*time.Minute).Format("01-02 15:04"), float64(stored)/1e6, float64(stored)/ingest.Seconds(),
				float64(hourMem-mem0)/1e6)
		}
	}
	// The reported rate is the retained period's: every window of it is
	// written and kept. Windows older than the retention when they arrive
	// are not written (the store counts them), so the whole run's rate is
	// higher and says less.
	rate := float64(kept) / keptIngest.Seconds()
	st := a.Stats()
	progress("ingest: %d frames (%.0f B each on the wire), %.0f M series-windows in %.1f s timed: %.0f series-windows/s over the whole run (%d not written: older than the retention on arrival); the retained period's %.0f M in %.1f s: %.0f series-windows/s; store errors %d, redelivered %d, duplicates %d",
		published, float64(frameBytes)/float64(published), float64(stored)/1e6, ingest.Seconds(), float64(stored)/ingest.Seconds(),
		a.Store().Expired(), float64(kept)/1e6, keptIngest.Seconds(), rate, st.StoreErrors, st.Redelivered, st.Duplicates)
	progress("CPU per series-window in the retained period: this process (aggregator, NATS, publisher) %.2f µs, Redis %.2f µs",
		float64(keptCPU.self.Nanoseconds())/1e3/float64(kept), float64(keptCPU.redis.Nanoseconds())/1e3/float64(kept))
	progress("Redis commands by time (whole run): %s", topCommands(ctx, rdb, 10))
	retained := int64(o.hosts * len(defs) * (nWindows - wB))
	bpw := float64(memC-mem0) / float64(retained)
	growth := float64(memB-memA) / float64(memC-memB) * 100
	progress("used_memory (minus client buffers) above the empty Redis: A (one retention written) %.1f MB, B (retained period starts) %.1f MB, C (end) %.1f MB",
		float64(memA-mem0)/1e6, float64(memB-mem0)/1e6, float64(memC-mem0)/1e6)
	progress("Redis: %.2f B per retained series-window (%.1f M retained); growth after one retention period (B−A)/(C−B): %.2f %%",
		bpw, float64(retained)/1e6, growth)
	if keys, err := rdb.DBSize(ctx).Result(); err == nil {
		progress("keys at the end: %d", keys)
	}
	if err := breakdown(ctx, rdb, now.Add(-time.Hour).UnixMilli()/store.HourMs, int64(o.hosts*len(defs))); err != nil {
		return fmt.Errorf("breakdown by key class: %w", err)
	}

	// Queries, with the fleet stored.
	probe := hosts[min(17, len(hosts)-1)]
	qp := startProbe(ctx, a.Store(), rdb, o.queryProfile, "series")
	q1, err := queryLatency(ctx, a.HTTPAddr(), fmt.Sprintf(`node_load1{instance=%q}`, probe.host), now.Add(-24*time.Hour), now, o.queries, 1)
	if err != nil {
		return err
	}
	qp.stop(ctx, q1)
	qp = startProbe(ctx, a.Store(), rdb, o.queryProfile, "host")
	q2, err := queryLatency(ctx, a.HTTPAddr(), fmt.Sprintf(`{instance=%q}`, probe.host), now.Add(-o.hostRange), now, o.queries, len(defs))
	if err != nil {
		return err
	}
	qp.stop(ctx, q2)
	progress("query_range node_load1{instance=%q} 24h/1m: p50 %.1f ms p99 %.1f ms; {instance=%q} %v/1m (%d series): p50 %.1f ms p99 %.1f ms (%d queries each)",
		probe.host, pct(q1, 0.5), pct(q1, 0.99), probe.host, o.hostRange, len(defs), pct(q2, 0.5), pct(q2, 0.99), o.queries)
	// Fleet-wide, the last hour: one series of every host, so the open
	// hour's logs of every agent are read (the data ends on an hour
	// boundary: each log holds a whole hour, the most it holds).
	// First as before the log index (GET of each whole log), then through
	// the index (only node_load1's entries).
	a.Store().SetWholeLogReads(true)
	qp = startProbe(ctx, a.Store(), rdb, o.queryProfile, "fleet-wholelog")
	q3w, err := queryLatency(ctx, a.HTTPAddr(), `node_load1`, now.Add(-time.Hour), now, o.queries, o.hosts)
	a.Store().SetWholeLogReads(false)
	if err != nil {
		return err
	}
	qp.stop(ctx, q3w)
	qp = startProbe(ctx, a.Store(), rdb, o.queryProfile, "fleet")
	q3, err := queryLatency(ctx, a.HTTPAddr(), `node_load1`, now.Add(-time.Hour), now, o.queries, o.hosts)
	if err != nil {
		return err
	}
	qp.stop(ctx, q3)
	progress("query_range node_load1 (all %d hosts) 1h/1m: whole open logs p50 %.1f ms p99 %.1f ms; through the log index p50 %.1f ms p99 %.1f ms (%d queries each)",
		o.hosts, pct(q3w, 0.5), pct(q3w, 0.99), pct(q3, 0.5), pct(q3, 0.99), o.queries)

	// The Prometheus TSDB block of the sampled hosts' retained windows.
	promBPW, err := prom.measure(promtool, o.dir)
	if err != nil {
		return err
	}
	fmt.Printf("RESULT bytes_per_window=%.2f prom_tsdb_bytes_per_window=%.2f memory_growth_after_retention_pct=%.2f series_windows_per_s=%.0f ratio_to_redis_set=%.3f query_p99_ms=%.1f host_query_p99_ms=%.1f fleet_query_p99_ms=%.1f fleet_query_wholelog_p99_ms=%.1f\n",
		bpw, promBPW, growth, rate, rate/setRate, pct(q1, 0.99), pct(q2, 0.99), pct(q3, 0.99), pct(q3w, 0.99))
	return nil
}

// publish sends one frame asynchronously, waiting while 4096 are
// unacknowledged.
func publish(js jetstream.JetStream, subject, id string, data []byte) error {
	for {
		_, err := js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data, Header: nats.Header{nats.MsgIdHdr: []string{id}}})
		if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				return errors.New("publishes stalled for a minute")
			}
			continue
		}
		return err
	}
}

// waitApplied waits until every published frame is acknowledged by the
// stream and applied by the aggregator; a lost frame, or no progress for
// two minutes (a store failing every write, e.g. Redis out of memory),
// ends the run.
func waitApplied(ctx context.Context, js jetstream.JetStream, a *aggregator.Aggregator, want uint64) error {
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		return errors.New("publishes not acknowledged after 10 minutes")
	}
	last, lastAt := a.Stats().Applied, time.Now()
	for {
		st := a.Stats()
		if st.BaseLost+st.DecodeErrors > 0 {
			return fmt.Errorf("lost %d frames (base lost %d, decode errors %d)", st.BaseLost+st.DecodeErrors, st.BaseLost, st.DecodeErrors)
		}
		if st.Applied >= want {
			return nil
		}
		if st.Applied != last {
			last, lastAt = st.Applied, time.Now()
		} else if time.Since(lastAt) > 2*time.Minute {
			return fmt.Errorf("%d of %d frames applied, none for 2 minutes (store errors %d)", st.Applied, want, st.StoreErrors)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// queryLatency runs query_range of query over [start, end] at a 60 s step
// n times and returns the latencies in ms; each answer must hold
// at least wantSeries series (the API answers a selector without a
// metric name with every statistic of every series it matches).
func queryLatency(ctx context.Context, httpAddr, query string, start, end time.Time, n, wantSeries int) ([]float64, error) {
	q := url.Values{"query": {query}, "start": {strconv.FormatInt(start.Unix(), 10)},
		"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"60"}}
	u := "http://" + httpAddr + "/api/v1/query_range?" + q.Encode()
	var lat []float64
	for i := range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("query_range %s: %s: %.300s", query, resp.Status, body)
		}
		if i == 0 {
			if got := countSeries(body); got < wantSeries {
				return nil, fmt.Errorf("query_range %s: %d series in the answer, want at least %d: %.300s", query, got, wantSeries, body)
			}
		}
	}
	return lat, nil
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]
}
