// Command regions measures Edgepulse across two regions: two regions of
// three aggregators each (one JetStream cluster and one Redis per region),
// four sites whose stock nats-server leaf nodes list every hub of their
// home region and then every hub of the other, a real agent per site on
// synthetic /proc, and 1,000 simulated hosts for the aggregation rule.
//
//	go run ./testbench/regions [-sim-hosts 1000] [-sim-windows 6] [-keep]
//
// It kills the hub member site s1's leaf is connected to (the leaf must
// reconnect to another member of its region), kills every hub of region a
// (its sites must fall back to region b) and brings a back; queries both
// regions through /global/api/v1 during and after, and with region b's
// API stopped (SIGSTOP) for the partial result's warning; compares the
// rule site_cpu_busy (sum by site, computed at ingest) with the same PromQL
// over the raw series and times both. It ends with
//
//	RESULT lost=<n> duplicates=<n> leaf_failover_s=<x> region_fallback_s=<x> global_query_p99_ms=<x> partial_warning=<yes|no> preagg_speedup=<x> preagg_max_rel_err=<x>
//
// and exits 1 when a target of issue 19 is missed. lost and duplicates
// count the real agents' frame seqs below the newest applied one that no
// region applied, or that both did (each region's <p>ws:{agent} set).
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

const partitions = 16

func main() {
	simHosts := flag.Int("sim-hosts", 1000, "simulated hosts for the aggregation rule")
	simWindows := flag.Int("sim-windows", 6, "windows of the simulated hosts")
	keep := flag.Bool("keep", false, "keep the working directory (logs, stores)")
	flag.Parse()
	if err := run(*simHosts, *simWindows, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "regions:", err)
		os.Exit(1)
	}
}

type result struct {
	lost, dups                   int
	leafFailover, regionFallback float64
	globalP99                    float64
	partial                      bool
	speedup, maxRelErr           float64
}

func (r result) String() string {
	yn := "no"
	if r.partial {
		yn = "yes"
	}
	return fmt.Sprintf("RESULT lost=%d duplicates=%d leaf_failover_s=%.2f region_fallback_s=%.2f global_query_p99_ms=%.1f partial_warning=%s preagg_speedup=%.1f preagg_max_rel_err=%.2g",
		r.lost, r.dups, r.leafFailover, r.regionFallback, r.globalP99, yn, r.speedup, r.maxRelErr)
}

func run(simHosts, simWindows int, keep bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "edgepulse-regions-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	fmt.Println("working directory", dir)
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	bins, err := harness.BuildCheckout()
	if err != nil {
		return err
	}
	a, err := newRegion(ctx, "a", dir)
	if err != nil {
		return err
	}
	defer a.redis.Stop()
	b, err := newRegion(ctx, "b", dir)
	if err != nil {
		return err
	}
	defer b.redis.Stop()
	if err := a.configure(b); err != nil {
		return err
	}
	if err := b.configure(a); err != nil {
		return err
	}
	defer a.stopAll()
	defer b.stopAll()
	if err := a.startAll(bins.Aggregator); err != nil {
		return err
	}
	if err := b.startAll(bins.Aggregator); err != nil {
		return err
	}
	logs := func() string { return a.logs() + b.logs() }
	for _, r := range []*region{a, b} {
		if err := harness.WaitFor(ctx, 120*time.Second, r.settled); err != nil {
			return fmt.Errorf("region %s did not settle: %w\n%s", r.name, err, logs())
		}
	}
	fmt.Println("regions a and b settled: 3 members each,", partitions, "partitions")

	sites := []*site{
		{name: "s1", home: "a", hubs: hubList(a.leafURLs(), b.leafURLs())},
		{name: "s2", home: "a", hubs: hubList(a.leafURLs(), b.leafURLs())},
		{name: "s3", home: "b", hubs: hubList(b.leafURLs(), a.leafURLs())},
		{name: "s4", home: "b", hubs: hubList(b.leafURLs(), a.leafURLs())},
	}
	procSrc := filepath.Join(root, "testbench", "testdata", "proc")
	for _, s := range sites {
		s.dir = filepath.Join(dir, "site-"+s.name)
		if err := s.start(bins, root, procSrc); err != nil {
			return err
		}
		defer s.stop()
	}
	home := map[string]*region{"a": a, "b": b}
	for _, s := range sites {
		q := fmt.Sprintf(`count(node_load1{site=%q})`, s.name)
		err := harness.WaitFor(ctx, 60*time.Second, func() error {
			pr, _, err := instant(home[s.home].members[0].api(), q, time.Time{})
			if err != nil {
				return err
			}
			if len(pr.Data.Result) == 0 {
				return fmt.Errorf("site %s: nothing in region %s yet", s.name, s.home)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w\n%s", err, logs()+s.leaf.Tail(2000)+s.agent.Tail(2000))
		}
	}
	fmt.Println("4 sites reporting to their home regions (s1, s2 → a; s3, s4 → b)")

	var res result
	if err := measurePreagg(ctx, b, simHosts, simWindows, &res); err != nil {
		return fmt.Errorf("pre-aggregation: %w\n%s", err, b.logs())
	}
	if err := measureGlobal(a, &res); err != nil {
		return err
	}
	if err := leafFailover(ctx, a, sites[0], bins.Aggregator, &res); err != nil {
		return fmt.Errorf("leaf failover: %w\n%s", err, logs()+sites[0].leaf.Tail(3000))
	}
	if err := regionFallback(ctx, a, b, sites[:2], &res); err != nil {
		return fmt.Errorf("region fallback: %w\n%s", err, logs()+sites[0].leaf.Tail(3000))
	}
	fmt.Println("bringing region a back")
	if err := a.startAll(bins.Aggregator); err != nil {
		return err
	}
	if err := harness.WaitFor(ctx, 120*time.Second, a.settled); err != nil {
		return fmt.Errorf("region a did not come back: %w\n%s", err, a.logs())
	}
	if err := checkGlobalAfter(a, sites); err != nil {
		return err
	}
	if err := partialWarning(a, b, &res); err != nil {
		return err
	}
	sleep(ctx, 3*time.Second)
	for _, s := range sites {
		s.agent.Stop()
	}
	for _, r := range []*region{a, b} {
		if err := drained(ctx, r); err != nil {
			return fmt.Errorf("region %s: %w\n%s", r.name, err, r.logs())
		}
	}
	if res.lost, res.dups, err = countSeqs(ctx, a, b, sites); err != nil {
		return err
	}
	fmt.Println(res)
	var miss []string
	if res.lost != 0 || res.dups != 0 {
		miss = append(miss, "lost=0 duplicates=0")
	}
	if res.leafFailover > 10 {
		miss = append(miss, "leaf_failover_s≤10")
	}
	if !res.partial {
		miss = append(miss, "partial_warning=yes")
	}
	if res.speedup < 10 {
		miss = append(miss, "preagg_speedup≥10")
	}
	if res.maxRelErr > 0.01 || math.IsNaN(res.maxRelErr) {
		miss = append(miss, "preagg_max_rel_err≤0.01")
	}
	if res.globalP99 > 100 {
		miss = append(miss, "global_query_p99_ms≤100")
	}
	if len(miss) > 0 {
		return fmt.Errorf("FAIL: want %s", strings.Join(miss, ", "))
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// percentile is the p-th percentile (0–100) of ds in milliseconds.
func percentile(ds []time.Duration, p float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return float64(s[max(i, 0)].Microseconds()) / 1000
}
