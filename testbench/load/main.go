// Command edgepulse-load measures one aggregator node's ingest ceiling
// (make load): simulated agents' frames of 500 series each are published
// as fast as the node absorbs them, with Redis on this machine, and
// redis-benchmark's pipelined SET rate is measured first in the same run
// as the ceiling to compare with. It then measures publish-to-queryable
// latency at a gentle rate and query_range latency for one series over
// 24 h at a 1 min step with every simulated series stored.
//
// Ends with:
//
//	RESULT series_windows_per_s=<x> ratio_to_redis_set=<r> e2e_p99_ms=<x> query_p99_ms=<x>
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/aggregator"
	"github.com/edgepulse/edgepulse/aggregator/preagg"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

func main() {
	agents := flag.Int("agents", 400, "simulated agents")
	windows := flag.Int("windows", 20, "windows per agent")
	series := flag.Int("series", 500, "series per frame")
	sites := flag.Int("sites", 40, "sites the agents are spread over")
	probes := flag.Int("probes", 200, "publish-to-queryable probes")
	queries := flag.Int("queries", 100, "query_range probes")
	dir := flag.String("dir", "", "work directory (default: a temporary one)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the ingest phase here")
	verbose := flag.Bool("v", false, "log the aggregator's warnings too (errors only by default)")
	flag.IntVar(&preaggRules, "preagg-rules", 0, "aggregation rules (load_sum_<i>: sum by (site) (load_g<i>)) computed at ingest, to measure their cost")
	flag.Parse()
	profile = *cpuProfile
	if *verbose {
		logLevel = slog.LevelWarn
	}
	if err := run(*agents, *windows, *series, *sites, *probes, *queries, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "edgepulse-load:", err)
		os.Exit(1)
	}
}

var (
	profile     string
	logLevel    = slog.LevelError
	preaggRules int
)

func progress(format string, a ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
}

func run(nAgents, nWindows, nSeries, nSites, nProbes, nQueries int, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "edgepulse-load-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rd, err := harness.StartRedis(ctx, dir)
	if err != nil {
		return err
	}
	defer rd.Stop()

	// The ceiling: redis-benchmark's pipelined SET on the same Redis.
	setRate, err := harness.RedisBenchmarkSet(rd.Addr)
	if err != nil {
		return err
	}
	progress("redis-benchmark -P 64 -t set: %.0f SET/s", setRate)
	if err := redis.NewClient(&redis.Options{Addr: rd.Addr}).FlushAll(ctx).Err(); err != nil {
		return err
	}

	cfg := aggregator.DefaultConfig()
	cfg.Name = "load-0"
	cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, dir+"/js"
	cfg.Redis.Addr = rd.Addr
	cfg.HTTP = "127.0.0.1:0"
	for i := range preaggRules {
		cfg.Preagg.Rules = append(cfg.Preagg.Rules, preagg.Rule{Name: fmt.Sprintf("load_sum_%d", i), Op: "sum",
			Select: fmt.Sprintf("load_g%d", i%50), By: []string{"site"}})
	}
	a, err := aggregator.New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})))
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

	// Frames, made before the clock starts: every agent's windows in order,
	// plus one probe agent with 24 h of windows for the query test.
	now := time.Now().Truncate(time.Minute)
	type frame struct {
		subject, id string
		data        []byte
		series      int
	}
	var frames []frame
	gen := func(site, host string, n int, first time.Time) ([]frame, error) {
		enc, err := codec.NewEncoder(codec.DefaultWireOptions())
		if err != nil {
			return nil, err
		}
		rng := rand.New(rand.NewPCG(uint64(len(host)), uint64(len(frames))))
		level := make([]float64, nSeries)
		for i := range level {
			level[i] = 1 + rng.Float64()*1000
		}
		var out []frame
		for w := range n {
			b := &codec.Batch{Agent: site + "/" + host, Site: site, Host: host, Seq: uint64(w + 1),
				Start: first.Add(time.Duration(w) * time.Minute).UnixMilli(), Width: 60_000}
			for i := range nSeries {
				level[i] *= 1 + (rng.Float64()-0.5)*0.02
				v := level[i]
				b.Series = append(b.Series, codec.Series{ID: uint32(i), Name: fmt.Sprintf("load_g%d", i%50),
					Labels: []string{"idx", strconv.Itoa(i / 50)}})
				b.Rollups = append(b.Rollups, codec.Rollup{ID: uint32(i), Count: 60, Sum: 60 * v, Min: v * 0.9, Max: v * 1.1, First: v, Last: v,
					Quantiles: []float64{v, v * 1.05, v * 1.09}})
			}
			p, err := enc.Encode(nil, b)
			if err != nil {
				return nil, err
			}
			out = append(out, frame{"tele." + site + "." + host, codec.MsgID(b.Agent, b.Seq), p, nSeries})
		}
		return out, nil
	}
	perAgent := make([][]frame, nAgents)
	for i := range nAgents {
		if perAgent[i], err = gen(fmt.Sprintf("s%d", i%nSites), fmt.Sprintf("h%d", i), nWindows, now.Add(-time.Duration(nWindows)*time.Minute)); err != nil {
			return err
		}
	}
	for w := range nWindows { // window-major: agents interleave as they would
		for i := range nAgents {
			frames = append(frames, perAgent[i][w])
		}
	}
	probe, err := gen("p", "probe", 1440, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	frames = append(frames, probe...)
	var total, bytes int
	for _, f := range frames {
		total += f.series
		bytes += len(f.data)
	}
	progress("%d frames (%d series-windows, %.1f MB) ready", len(frames), total, float64(bytes)/1e6)

	nc, err := nats.Connect(a.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	if profile != "" {
		pf, err := os.Create(profile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	rdb := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer rdb.Close()
	redisCPU0, err := redisCPU(ctx, rdb)
	if err != nil {
		return err
	}
	// Command statistics of the ingest only (not redis-benchmark's).
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		return err
	}
	selfCPU0 := selfCPU()
	start := time.Now()
	for _, f := range frames {
		for {
			_, err := js.PublishMsgAsync(&nats.Msg{Subject: f.subject, Data: f.data, Header: nats.Header{nats.MsgIdHdr: []string{f.id}}})
			if errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				// 4096 awaiting their acks: let them land, then go on.
				select {
				case <-js.PublishAsyncComplete():
				case <-time.After(time.Minute):
					return fmt.Errorf("publishes stalled for a minute")
				}
				continue
			}
			if err != nil {
				return err
			}
			break
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("publishes not acknowledged after 10 minutes")
	}
	published := time.Since(start)
	// A lost frame never comes back: stop waiting at once.
	lctx, lcancel := context.WithCancel(ctx)
	defer lcancel()
	var lost error
	if err := harness.WaitFor(lctx, 30*time.Minute, func() error {
		st := a.Stats()
		if st.BaseLost+st.DecodeErrors > 0 {
			lost = fmt.Errorf("lost %d frames: %+v", st.BaseLost+st.DecodeErrors, st)
			lcancel()
			return lost
		}
		if st.Applied < uint64(len(frames)) {
			return fmt.Errorf("%d of %d frames applied", st.Applied, len(frames))
		}
		return nil
	}); err != nil {
		if lost != nil {
			return lost
		}
		return err
	}
	elapsed := time.Since(start)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	rate := float64(total) / elapsed.Seconds()
	redisCPU1, err := redisCPU(ctx, rdb)
	if err != nil {
		return err
	}
	progress("cpu during ingest: this process (aggregator, hub, publisher) %.1f s = %.2f cores, redis-server %.1f s = %.2f cores",
		selfCPU()-selfCPU0, (selfCPU()-selfCPU0)/elapsed.Seconds(), redisCPU1-redisCPU0, (redisCPU1-redisCPU0)/elapsed.Seconds())
	if top, err := redisTopCommands(ctx, rdb, 5); err == nil {
		progress("redis time by command (INFO commandstats): %s", top)
	}
	st := a.Stats()
	progress("stored %d series-windows in %.1fs (published in %.1fs): %.0f series-windows/s, %.0f frames/s; store errors %d, base waits %d, redelivered %d, duplicates %d",
		total, elapsed.Seconds(), published.Seconds(), rate, float64(len(frames))/elapsed.Seconds(), st.StoreErrors, st.BaseWaits, st.Redelivered, st.Duplicates)

	stored, err := rdb.HLen(ctx, "ep:series").Result()
	if err != nil {
		return err
	}
	progress("series stored: %d", stored)

	// Publish to queryable, one frame at a time.
	lat, err := gen("lat", "probe", nProbes, now.Add(-time.Duration(nProbes)*time.Minute))
	if err != nil {
		return err
	}
	probeSID := store.SeriesID(store.Canon("load_g0", []string{"idx", "0", "instance", "probe", "site", "lat"}))
	var e2e []float64
	for w, f := range lat {
		end := now.Add(-time.Duration(nProbes-w-1) * time.Minute).UnixMilli()
		t0 := time.Now()
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: f.subject, Data: f.data, Header: nats.Header{nats.MsgIdHdr: []string{f.id}}}); err != nil {
			return err
		}
		for {
			c, err := a.Store().WindowCopies(ctx, "lat/probe", probeSID, 60_000, []int64{end})
			if err != nil {
				return err
			}
			if len(c[0]) > 0 {
				break
			}
			if time.Since(t0) > 30*time.Second {
				return fmt.Errorf("probe window %d not queryable after 30 s (series %s)", w, probeSID)
			}
			time.Sleep(200 * time.Microsecond)
		}
		e2e = append(e2e, float64(time.Since(t0).Microseconds())/1000)
	}

	// query_range of one series over 24 h at a 1 min step.
	var qlat []float64
	q := url.Values{"query": {`load_g0{site="p",instance="probe",idx="0"}`},
		"start": {strconv.FormatInt(now.Add(-24*time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)}, "step": {"60"}}
	u := "http://" + a.HTTPAddr() + "/api/v1/query_range?" + q.Encode()
	for range nQueries {
		t0 := time.Now()
		resp, err := http.Get(u)
		if err != nil {
			return err
		}
		body := make([]byte, 1<<20)
		n, _ := resp.Body.Read(body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("query_range: %s: %s", resp.Status, body[:n])
		}
		qlat = append(qlat, float64(time.Since(t0).Microseconds())/1000)
	}
	progress("publish-to-queryable: p50 %.1f ms p99 %.1f ms over %d probes; query_range 24h/1m: p50 %.1f ms p99 %.1f ms over %d queries",
		pct(e2e, 0.5), pct(e2e, 0.99), len(e2e), pct(qlat, 0.5), pct(qlat, 0.99), len(qlat))
	fmt.Printf("RESULT series_windows_per_s=%.0f ratio_to_redis_set=%.3f e2e_p99_ms=%.1f query_p99_ms=%.1f\n",
		rate, rate/setRate, pct(e2e, 0.99), pct(qlat, 0.99))
	return nil
}

func pct(v []float64, p float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]
}

// redisCPU is the CPU time redis-server has used (INFO cpu), in seconds.
func redisCPU(ctx context.Context, rdb *redis.Client) (float64, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, fmt.Errorf("redis INFO cpu: %w", err)
	}
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("redis INFO cpu %s: %w", k, err)
			}
			sum += f
		}
	}
	return sum, nil
}

// redisTopCommands lists the n commands Redis spent the most time in,
// with calls and µs per call.
func redisTopCommands(ctx context.Context, rdb *redis.Client, n int) (string, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return "", err
	}
	type cs struct {
		name          string
		calls         int64
		usec, perCall float64
	}
	var all []cs
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		c := cs{name: strings.TrimPrefix(name, "cmdstat_")}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				c.calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				c.usec, _ = strconv.ParseFloat(v, 64)
			case "usec_per_call":
				c.perCall, _ = strconv.ParseFloat(v, 64)
			}
		}
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b cs) int { return cmp.Compare(b.usec, a.usec) })
	var out []string
	for _, c := range all[:min(n, len(all))] {
		out = append(out, fmt.Sprintf("%s %.1f s (%d calls, %.2f µs each)", c.name, c.usec/1e6, c.calls, c.perCall))
	}
	return strings.Join(out, "; "), nil
}

// selfCPU is the CPU time this process has used, in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
