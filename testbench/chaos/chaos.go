package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// Options configure a run.
type Options struct {
	Dir     string        // working directory (logs, data)
	Warm    time.Duration // ingest before the snapshot; default 20s
	Unsaved time.Duration // ingest between the snapshot and kill -9; default 16s
	Down    time.Duration // Redis down; default 4s
	After   time.Duration // ingest after Redis is back; default 30s
	// Flood: Clients hammer Heavy for FloodFor while one client runs
	// Normal every 100 ms.
	Clients  int
	FloodFor time.Duration
	Heavy    string
	Normal   string
	// Unbounded runs the flood with the admission limits off (the
	// behaviour before issue 18) for the before/after comparison.
	Unbounded bool
	// Only, when set, lists the scenarios to run (comma-separated names
	// of Scenarios); default all.
	Only string
	// AggExtra is appended to the aggregator's config (e.g. limits).
	AggExtra string
	Log      io.Writer

	started time.Time // when the stack was up
}

func (o *Options) defaults() {
	if o.Warm == 0 {
		o.Warm = 20 * time.Second
	}
	if o.Unsaved == 0 {
		o.Unsaved = 16 * time.Second
	}
	if o.Down == 0 {
		o.Down = 4 * time.Second
	}
	if o.After == 0 {
		o.After = 30 * time.Second
	}
	if o.Clients == 0 {
		o.Clients = 40
	}
	if o.FloodFor == 0 {
		o.FloodFor = 20 * time.Second
	}
	if o.Heavy == "" {
		o.Heavy = `{__name__=~"node_.+"}[5m]`
	}
	if o.Normal == "" {
		o.Normal = `node_load1`
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

// unbounded are query limits that admit everything (as before issue 18).
const unbounded = `limits: {max_concurrent: 4096, max_queued: 100000, heavy_samples: 5000000, heavy_slots: 1024, heavy_queued: 100000}`

// Run starts the stack on this host's /proc with 2 s windows, runs the
// Redis rollback and then the query flood, and returns their RESULT lines.
func Run(ctx context.Context, o Options) ([]string, error) {
	o.defaults()
	extra := ""
	if o.Unbounded {
		extra = unbounded
	}
	extra += "\n" + o.AggExtra
	st, err := harness.StartStack(ctx, harness.StackOptions{Dir: o.Dir, ProcRoot: "/proc", Window: "2s", AggExtra: extra,
		ExtraHosts: []string{neighbour, skewedAgents[0].host, skewedAgents[1].host, skewedAgents[2].host}})
	if err != nil {
		return nil, err
	}
	defer st.Stop()
	o.started = time.Now()
	var out []string
	for _, sc := range Scenarios {
		if o.Only != "" && !slices.Contains(strings.Split(o.Only, ","), sc.Name) {
			continue
		}
		line, err := sc.run(ctx, st, o)
		if err != nil {
			return out, fmt.Errorf("%s: %w\n%s", sc.Name, err, st.Logs())
		}
		fmt.Fprintln(o.Log, line)
		out = append(out, line)
	}
	return out, nil
}

// Scenario is one chaos scenario on the running stack.
type Scenario struct {
	Name string
	run  func(context.Context, *harness.Stack, Options) (string, error)
}

// Scenarios run in this order on one stack.
var Scenarios = []Scenario{
	{"redis_rollback", rollback},
	{"redis_wiped", wiped},
	{"forged_neighbour", forgedNeighbour},
	{"query_flood", flood},
	{"clock_skew", clockSkew}, // last: its agents' series widen the flood's selector
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// rollback: ingest, SAVE, ingest, kill -9 Redis, restart it on its RDB,
// ingest, stop the agent, then count the windows of node_load1 stored
// between the first and the last: expected (every 2 s), stored, lost
// (gaps), duplicated (repeated timestamps).
func rollback(ctx context.Context, st *harness.Stack, o Options) (string, error) {
	fmt.Fprintf(o.Log, "rollback: ingest %v, SAVE, ingest %v, kill -9 redis, down %v, restart on the RDB, ingest %v\n", o.Warm, o.Unsaved, o.Down, o.After)
	rdb := redis.NewClient(&redis.Options{Addr: st.Redis.Addr})
	defer rdb.Close()
	// run-local.sh's setting: the aggregator holds acks until a snapshot
	// covers them (with save "" it would not: nothing survives a restart).
	if err := rdb.ConfigSet(ctx, "save", "60 1").Err(); err != nil {
		return "", fmt.Errorf("redis CONFIG SET save: %w", err)
	}
	if err := sleep(ctx, o.Warm); err != nil {
		return "", err
	}
	if err := rdb.Save(ctx).Err(); err != nil {
		return "", fmt.Errorf("redis SAVE: %w", err)
	}
	if err := sleep(ctx, o.Unsaved); err != nil {
		return "", err
	}
	st.Redis.Kill()
	killed := time.Now()
	if err := sleep(ctx, o.Down); err != nil {
		return "", err
	}
	if err := st.Redis.Restart(ctx); err != nil {
		return "", err
	}
	if err := sleep(ctx, o.After); err != nil {
		return "", err
	}
	st.Agent.Stop()
	// Let the stream drain into Redis.
	var stz map[string]any
	var stored []float64
	err := harness.WaitFor(ctx, 60*time.Second, func() error {
		var err error
		if stz, err = statz(ctx, st.APIURL); err != nil {
			return err
		}
		prev := len(stored)
		if stored, err = windowEnds(ctx, st.APIURL, o.Normal); err != nil {
			return err
		}
		if len(stored) == 0 || len(stored) != prev {
			return fmt.Errorf("still draining: %d windows", len(stored))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	distinct := slices.Compact(slices.Clone(stored))
	expected := int((distinct[len(distinct)-1]-distinct[0])/2) + 1
	fmt.Fprintf(o.Log, "rollback: redis killed %s; drained %v later\n", killed.Format(time.TimeOnly), time.Since(killed).Round(time.Second))
	return fmt.Sprintf("RESULT scenario=redis_rollback windows_expected=%d windows_stored=%d lost=%d duplicates=%d restarts=1 base_lost=%v base_waits=%v keyframes_asked=%v redelivered=%v store_errors=%v replayed=%v held_acked_early=%v",
		expected, len(distinct), expected-len(distinct), len(stored)-len(distinct),
		stz["BaseLost"], stz["BaseWaits"], stz["KeyframesAsked"], stz["Redelivered"], stz["StoreErrors"], stz["Replayed"], stz["HeldAckedEarly"]), nil
}

func statz(ctx context.Context, api string) (map[string]any, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", api+"/statz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// windowEnds returns the sorted window ends (s) stored for the selector's
// first series over the last hour.
func windowEnds(ctx context.Context, api, sel string) ([]float64, error) {
	pts, err := samples(ctx, api, sel, time.Now())
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p[0]
	}
	return out, nil
}

// flood: Clients goroutines run the heavy query back to back for
// FloodFor while one runs the normal query every 100 ms; the
// aggregator's peak RSS (VmHWM) and the normal query's latencies are
// reported.
func flood(ctx context.Context, st *harness.Stack, o Options) (string, error) {
	// As much data as after the rollback scenario, when run alone.
	if err := sleep(ctx, time.Until(o.started.Add(o.Warm+o.Unsaved+o.Down+o.After))); err != nil {
		return "", err
	}
	fmt.Fprintf(o.Log, "flood: %d clients of %s for %v, normal query %s every 100 ms (unbounded=%v)\n", o.Clients, o.Heavy, o.FloodFor, o.Normal, o.Unbounded)
	pid := st.Agg.Cmd.Process.Pid
	rss0, _ := procStatus(pid, "VmRSS:")
	fctx, cancel := context.WithTimeout(ctx, o.FloodFor)
	defer cancel()
	// Each side keeps its connections alive, as Grafana does: with
	// http.DefaultClient (2 idle connections per host) the 40 clients
	// opened and closed a connection per request, and the listen queue's
	// overflow cost the normal query 1 s SYN retransmits (p99 1.2 s).
	heavyClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients}}
	normalClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer heavyClient.CloseIdleConnections()
	defer normalClient.CloseIdleConnections()
	var firstErr sync.Once
	var newConns atomic.Int64 // normal queries that had to dial
	get := func(c *http.Client, q string) (int, time.Duration) {
		u := st.APIURL + "/api/v1/query?" + url.Values{"query": {q}}.Encode()
		rctx := fctx
		if c == normalClient {
			rctx = httptrace.WithClientTrace(fctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
				if !i.Reused {
					newConns.Add(1)
				}
			}})
		}
		req, _ := http.NewRequestWithContext(rctx, "GET", u, nil)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, time.Since(start)
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
			firstErr.Do(func() {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
				fmt.Fprintf(o.Log, "flood: %s: status %d: %s\n", q, resp.StatusCode, b)
			})
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	var heavyOK, heavy503, heavyOther atomic.Int64
	var wg sync.WaitGroup
	for range o.Clients {
		wg.Go(func() {
			for fctx.Err() == nil {
				code, _ := get(heavyClient, o.Heavy)
				switch {
				case fctx.Err() != nil:
				case code == http.StatusOK:
					heavyOK.Add(1)
				case code == http.StatusServiceUnavailable:
					heavy503.Add(1)
					sleep(fctx, 200*time.Millisecond) // a client honouring Retry-After would wait longer
				default:
					heavyOther.Add(1)
				}
			}
		})
	}
	var lat []time.Duration
	normalErr := 0
	sleep(fctx, time.Second) // the flood under way
	for fctx.Err() == nil {
		code, d := get(normalClient, o.Normal)
		if fctx.Err() != nil {
			break
		}
		if code != http.StatusOK {
			normalErr++
		} else {
			lat = append(lat, d)
		}
		sleep(fctx, 100*time.Millisecond)
	}
	wg.Wait()
	peak, _ := procStatus(pid, "VmHWM:")
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	return fmt.Sprintf("RESULT scenario=query_flood unbounded=%v clients=%d rss_before_mb=%.0f rss_peak_mb=%.0f normal_queries=%d normal_errors=%d normal_p50_ms=%.1f normal_p95_ms=%.1f normal_p99_ms=%.1f normal_max_ms=%.1f normal_new_conns=%d heavy_ok=%d heavy_503=%d heavy_other=%d",
		o.Unbounded, o.Clients, float64(rss0)/1024, float64(peak)/1024, len(lat), normalErr,
		float64(pct(0.5).Microseconds())/1000, float64(pct(0.95).Microseconds())/1000, float64(pct(0.99).Microseconds())/1000, float64(pct(1).Microseconds())/1000, newConns.Load(), heavyOK.Load(), heavy503.Load(), heavyOther.Load()), nil
}

// procStatus returns a kB field of /proc/<pid>/status.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
