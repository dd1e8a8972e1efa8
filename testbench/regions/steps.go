package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/aggregator"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

const (
	preaggQuery = `site_cpu_busy{site=~"sim.*"}`
	rawQuery    = `sum by (site) (node_cpu_seconds_total:avg{mode!="idle",site=~"sim.*"})`
	// rateQuery is the dashboard question, timed for reference.
	rateQuery = `sum by (site) (rate(node_cpu_seconds_total{mode!="idle",site=~"sim.*"}[1m]))`
)

// measurePreagg publishes the simulated fleet into r, waits until every
// window's partials cover every host, then compares the rule's output
// with the same PromQL over the raw series at every window end and times
// both (alternating, in the same run).
func measurePreagg(ctx context.Context, r *region, hosts, windows int, res *result) error {
	base := time.Now().Add(-10*time.Minute).UnixMilli() / simWidth * simWidth
	start := time.Now()
	if err := publishSim(ctx, r.clientURLs(), hosts, windows, base); err != nil {
		return err
	}
	if err := drained(ctx, r); err != nil {
		return err
	}
	fmt.Printf("simulated %d hosts × %d windows of %d series published into region %s and applied in %.1f s\n",
		hosts, windows, len(simSeries()), r.name, time.Since(start).Seconds())
	api := r.members[0].api()
	var ends []time.Time
	for w := range windows {
		ends = append(ends, time.UnixMilli(base+int64(w+1)*simWidth))
	}
	err := harness.WaitFor(ctx, 60*time.Second, func() error {
		for _, e := range ends {
			pr, _, err := instant(api, `sum(site_cpu_busy_hosts{site=~"sim.*"})`, e)
			if err != nil {
				return err
			}
			if got := byLabel(pr, "")[""]; got != float64(hosts) {
				return fmt.Errorf("window ending %s: partials cover %v hosts, want %d", e.Format(time.TimeOnly), got, hosts)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var tRaw, tPre, tRate time.Duration
	const rounds = 3
	for round := range rounds {
		for _, e := range ends {
			raw, d1, err := instant(api, rawQuery, e)
			if err != nil {
				return err
			}
			pre, d2, err := instant(api, preaggQuery, e)
			if err != nil {
				return err
			}
			_, d3, err := instant(api, rateQuery, e)
			if err != nil {
				return err
			}
			tRaw, tPre, tRate = tRaw+d1, tPre+d2, tRate+d3
			if round > 0 {
				continue
			}
			rv, pv := byLabel(raw, "site"), byLabel(pre, "site")
			if len(rv) != simSites || len(pv) != simSites {
				return fmt.Errorf("window ending %s: raw %v, rule %v: want %d sites each", e.Format(time.TimeOnly), rv, pv, simSites)
			}
			for s, v := range rv {
				p, ok := pv[s]
				if !ok {
					return fmt.Errorf("site %s missing from the rule's output", s)
				}
				res.maxRelErr = math.Max(res.maxRelErr, math.Abs(p-v)/math.Max(math.Abs(v), 1e-12))
			}
		}
	}
	n := float64(rounds * len(ends))
	res.speedup = tRaw.Seconds() / tPre.Seconds()
	fmt.Printf("rule vs raw over %d window ends × %d rounds: raw %.1f ms, rule %.1f ms per query (speedup %.1f×), max relative error %.2g; %s took %.1f ms\n",
		len(ends), rounds, tRaw.Seconds()*1000/n, tPre.Seconds()*1000/n, res.speedup, res.maxRelErr, rateQuery, tRate.Seconds()*1000/n)
	return nil
}

// globalQueries are timed alternately from region a over both regions:
// the sites' agents (a and b) and the rule's output over the simulated
// fleet (b, merged over partitions there).
var globalQueries = []string{`sum by (region, site) (node_load1)`, `sum by (region, site) (last_over_time(site_cpu_busy[15m]))`}

// measureGlobal times the fan-out from a with both regions up.
func measureGlobal(a *region, res *result) error {
	api := a.members[0].api() + "/global"
	var ds []time.Duration
	for i := range 200 {
		q := globalQueries[i%len(globalQueries)]
		pr, d, err := instant(api, q, time.Time{})
		if err != nil {
			return err
		}
		if i == 0 {
			regions := map[string]bool{}
			for _, r := range pr.Data.Result {
				regions[r.Metric["region"]] = true
			}
			if !regions["a"] || !regions["b"] || len(pr.Warnings) > 0 {
				return fmt.Errorf("global query with both regions up: regions %v, warnings %v", regions, pr.Warnings)
			}
		}
		if i == 1 {
			// The simulated fleet's sites (region b) and the agents' sites,
			// whose synthetic /proc has CPU counters too (a and b).
			sim, regions := 0, map[string]bool{}
			for _, r := range pr.Data.Result {
				if strings.HasPrefix(r.Metric["site"], "sim") {
					sim++
				}
				regions[r.Metric["region"]] = true
			}
			if sim != simSites || !regions["a"] || !regions["b"] {
				return fmt.Errorf("global %s: %d simulated sites (want %d), regions %v", q, sim, simSites, regions)
			}
		}
		ds = append(ds, d)
	}
	res.globalP99 = percentile(ds, 99)
	fmt.Printf("global queries %q from region a, both regions up: p50 %.1f ms, p99 %.1f ms over %d queries\n",
		globalQueries, percentile(ds, 50), res.globalP99, len(ds))
	return nil
}

// leafFailover kills the hub member s's leaf is connected to and times
// the leaf's reconnection to another member of the same region, then
// restarts the member.
func leafFailover(ctx context.Context, a *region, s *site, bin string, res *result) error {
	port, err := s.hubPort()
	if err != nil {
		return err
	}
	var victim *member
	for _, m := range a.members {
		if m.leaf == port {
			victim = m
		}
	}
	if victim == nil {
		return fmt.Errorf("site %s's leaf is connected to leaf port %d, not to a hub of region %s", s.name, port, a.name)
	}
	fmt.Printf("kill -9 %s, the hub site %s's leaf is connected to\n", victim.name, s.name)
	t0 := time.Now()
	victim.proc.Kill()
	var now int
	err = harness.WaitFor(ctx, 60*time.Second, func() error {
		p, err := s.hubPort()
		if err != nil {
			return err
		}
		if p == port {
			return fmt.Errorf("still connected to %d", p)
		}
		now = p
		return nil
	})
	if err != nil {
		return err
	}
	res.leafFailover = time.Since(t0).Seconds()
	if !slices.ContainsFunc(a.members, func(m *member) bool { return m.leaf == now }) {
		return fmt.Errorf("the leaf moved to leaf port %d, outside its home region", now)
	}
	fmt.Printf("site %s's leaf reconnected to another hub of region %s after %.2f s\n", s.name, a.name, res.leafFailover)
	if err := victim.start(bin); err != nil {
		return err
	}
	return harness.WaitFor(ctx, 120*time.Second, a.settled)
}

// regionFallback kills every hub of a and times until the sites' leaves
// are connected to b and b has applied a window of each written after
// the kill; it queries b's /global meanwhile.
func regionFallback(ctx context.Context, a, b *region, sites []*site, res *result) error {
	fmt.Printf("kill -9 every hub of region %s\n", a.name)
	t0 := time.Now()
	for _, m := range a.members {
		m.proc.Kill()
	}
	api := b.members[0].api()
	err := harness.WaitFor(ctx, 120*time.Second, func() error {
		for _, s := range sites {
			p, err := s.hubPort()
			if err != nil {
				return fmt.Errorf("site %s: %w", s.name, err)
			}
			if !slices.ContainsFunc(b.members, func(m *member) bool { return m.leaf == p }) {
				return fmt.Errorf("site %s: leaf not on region %s yet", s.name, b.name)
			}
			pr, _, err := instant(api, fmt.Sprintf(`timestamp(node_load1{site=%q})`, s.name), time.Time{})
			if err != nil {
				return err
			}
			ts := byLabel(pr, "site")[s.name]
			if ts*1000 < float64(t0.UnixMilli()) {
				return fmt.Errorf("site %s: no window after the kill applied in region %s", s.name, b.name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.regionFallback = time.Since(t0).Seconds()
	fmt.Printf("sites %s fell back to region %s: leaf connected and a new window applied there after %.2f s\n", siteNames(sites), b.name, res.regionFallback)
	pr, _, err := instant(api+"/global", `count by (region, site) (node_load1)`, time.Time{})
	if err != nil {
		return err
	}
	fmt.Printf("global query from region %s while %s is down: %d series, warnings %q\n", b.name, a.name, len(pr.Data.Result), pr.Warnings)
	if len(pr.Warnings) == 0 {
		return fmt.Errorf("global query from %s with %s down carried no warning", b.name, a.name)
	}
	return nil
}

func siteNames(ss []*site) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

// checkGlobalAfter checks that with both regions up again every site is
// one series per metric in the fan-out, whatever region stored it.
func checkGlobalAfter(a *region, sites []*site) error {
	return harness.WaitFor(context.Background(), 30*time.Second, func() error {
		pr, _, err := instant(a.members[0].api()+"/global", `count by (site) (node_load1{site=~"s[0-9]"})`, time.Time{})
		if err != nil {
			return err
		}
		got := byLabel(pr, "site")
		for _, s := range sites {
			if got[s.name] != 1 {
				return fmt.Errorf("global query after region a came back: site %s has %v node_load1 series, want 1 (warnings %v)", s.name, got[s.name], pr.Warnings)
			}
		}
		if len(pr.Warnings) > 0 {
			return fmt.Errorf("warnings with both regions up: %v", pr.Warnings)
		}
		return nil
	})
}

// partialWarning stops (SIGSTOP) the member of b whose API a's fan-out
// asks and checks a's global answer is partial, with a warning naming b.
func partialWarning(a, b *region, res *result) error {
	b.members[0].pause(true)
	defer b.members[0].pause(false)
	pr, d, err := instant(a.members[0].api()+"/global", `count by (region) (node_load1)`, time.Time{})
	if err != nil {
		return err
	}
	regions := byLabel(pr, "region")
	for _, w := range pr.Warnings {
		if strings.Contains(w, `region "b"`) && regions["a"] > 0 && regions["b"] == 0 {
			res.partial = true
		}
	}
	fmt.Printf("region b's API stopped: global answer in %.0f ms, regions %v, warnings %q\n", d.Seconds()*1000, regions, pr.Warnings)
	return nil
}

// drained waits until r's telemetry stream holds nothing.
func drained(ctx context.Context, r *region) error {
	nc, err := nats.Connect(joinURLs(r.clientURLs()), nats.MaxReconnects(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	return harness.WaitFor(ctx, 180*time.Second, func() error {
		s, err := js.Stream(ctx, aggregator.StreamName)
		if err != nil {
			return err
		}
		if n := s.CachedInfo().State.Msgs; n > 0 {
			return fmt.Errorf("%d frames still in region %s's stream", n, r.name)
		}
		return nil
	})
}

// countSeqs reads each real agent's applied frame seqs in both regions:
// a seq below the newest applied that neither region applied is lost, one
// both applied is a duplicate.
func countSeqs(ctx context.Context, a, b *region, sites []*site) (lost, dups int, err error) {
	seqs := func(r *region, s *site) (map[int]bool, error) {
		c := redis.NewClient(&redis.Options{Addr: r.redis.Addr})
		defer c.Close()
		keys, err := c.Keys(ctx, "ep:ws:{"+s.name+"/*").Result()
		if err != nil {
			return nil, err
		}
		out := map[int]bool{}
		for _, k := range keys {
			ms, err := c.ZRange(ctx, k, 0, -1).Result()
			if err != nil {
				return nil, err
			}
			for _, m := range ms {
				n, _ := strconv.Atoi(m)
				out[n] = true
			}
		}
		return out, nil
	}
	for _, s := range sites {
		sa, err := seqs(a, s)
		if err != nil {
			return 0, 0, err
		}
		sb, err := seqs(b, s)
		if err != nil {
			return 0, 0, err
		}
		hi, lo := 0, math.MaxInt
		for n := range sa {
			hi, lo = max(hi, n), min(lo, n)
		}
		for n := range sb {
			hi, lo = max(hi, n), min(lo, n)
		}
		l, d := 0, 0
		for n := lo; n <= hi; n++ {
			if !sa[n] && !sb[n] {
				l++
			}
			if sa[n] && sb[n] {
				d++
			}
		}
		fmt.Printf("site %s: frames %d–%d applied, %d in region a, %d in region b, %d in neither, %d in both\n", s.name, lo, hi, len(sa), len(sb), l, d)
		lost, dups = lost+l, dups+d
	}
	return lost, dups, nil
}
