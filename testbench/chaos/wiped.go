package chaos

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// wiped: kill -9 Redis and start it again with no data (its dump.rdb
// removed), ingest, stop the agent, then count the windows of node_load1
// that ended after the kill (those applied before it are gone with
// Redis, by definition): expected (every 2 s), stored, lost, duplicated;
// how long until the first window after the wipe was stored; and whether
// the label values and a regex selector answer again without restarting
// the aggregator (the index heals).
func wiped(ctx context.Context, st *harness.Stack, o Options) (string, error) {
	if err := st.RestartAgent(); err != nil {
		return "", err
	}
	fmt.Fprintf(o.Log, "wiped: ingest %v, kill -9 redis, remove its dump.rdb, down %v, restart empty, ingest %v\n", o.Warm, o.Down, o.After)
	if err := sleep(ctx, o.Warm); err != nil {
		return "", err
	}
	st.Redis.Kill()
	killed := time.Now()
	if err := os.Remove(filepath.Join(st.Redis.Dir, "dump.rdb")); err != nil && !os.IsNotExist(err) {
		return "", err
	}
	if err := sleep(ctx, o.Down); err != nil {
		return "", err
	}
	if err := st.Redis.Restart(ctx); err != nil {
		return "", err
	}
	restarted := time.Now()
	// The first window stored after the wipe.
	resume := -1.0
	herr := harness.WaitFor(ctx, 120*time.Second, func() error {
		ends, err := windowEnds(ctx, st.APIURL, o.Normal)
		if err != nil {
			return err
		}
		if len(ends) == 0 {
			return fmt.Errorf("nothing stored yet")
		}
		resume = time.Since(restarted).Seconds()
		return nil
	})
	if herr != nil {
		return "", fmt.Errorf("no window stored after the wipe: %w", herr)
	}
	if err := sleep(ctx, time.Until(restarted.Add(o.After))); err != nil {
		return "", err
	}
	names, _ := labelValues(ctx, st.APIURL, "__name__")
	instances, _ := labelValues(ctx, st.APIURL, "instance")
	regex, _ := seriesCount(ctx, st.APIURL, `{__name__=~"node_load.*"}`)
	st.Agent.Stop()
	stored, err := drained(ctx, st, o.Normal)
	if err != nil {
		return "", err
	}
	// Windows ending at least one window after the kill: the one being
	// applied at the kill may have been written before it.
	from := float64(killed.Unix()) + 2
	stored = slices.DeleteFunc(stored, func(e float64) bool { return e < from })
	distinct := slices.Compact(slices.Clone(stored))
	expected := 0
	if len(distinct) > 0 {
		expected = int((distinct[len(distinct)-1]-2*math.Ceil(from/2))/2) + 1
	}
	stz, _ := statz(ctx, st.APIURL)
	return fmt.Sprintf("RESULT scenario=redis_wiped windows_expected=%d windows_stored=%d lost=%d duplicates=%d restarts=1 resume_s=%.1f names=%d instances=%d regex_series=%d base_lost=%v replayed=%v keyframes_asked=%v",
		expected, len(distinct), expected-len(distinct), len(stored)-len(distinct), resume, names, instances, regex,
		stz["BaseLost"], stz["Replayed"], stz["KeyframesAsked"]), nil
}

// drained waits for the stream to drain into Redis (the window count of
// sel stops changing) and returns the window ends.
func drained(ctx context.Context, st *harness.Stack, sel string) ([]float64, error) {
	var stored []float64
	err := harness.WaitFor(ctx, 60*time.Second, func() error {
		prev := len(stored)
		var err error
		if stored, err = windowEnds(ctx, st.APIURL, sel); err != nil {
			return err
		}
		if len(stored) == 0 || len(stored) != prev {
			return fmt.Errorf("still draining: %d windows", len(stored))
		}
		return nil
	})
	return stored, err
}
