package faults

import (
	"context"
	"testing"
	"time"
)

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// TestFaultsShort is the short version of `make faults` that `make test`
// runs: scenario A with 1 site × 2 agents and a 20 s outage, scenario B
// with 5 kills.
func TestFaultsShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes and cuts links for 20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var a, b Result
	// The scenarios run side by side on their own fleets.
	t.Run("scenarios", func(t *testing.T) {
		t.Run("A-outage", func(t *testing.T) {
			t.Parallel()
			var err error
			a, err = RunOutage(ctx, OutageOptions{Dir: t.TempDir(), Sites: 1, AgentsPerSite: 2, Window: time.Second,
				Outage: 20 * time.Second, Progress: testWriter{t}})
			if err != nil {
				t.Fatal(err)
			}
			check(t, a)
			if a.Backlog == 0 {
				t.Errorf("no batch was held back by the outage: the scenario tested nothing (%s)", a.Detail())
			}
		})
		t.Run("B-kills", func(t *testing.T) {
			t.Parallel()
			var err error
			b, err = RunKills(ctx, KillOptions{Dir: t.TempDir(), Kills: 5, Window: time.Second, Seed: uint64(time.Now().UnixNano()),
				Progress: testWriter{t}})
			if err != nil {
				t.Fatal(err)
			}
			check(t, b)
			if b.CrashRestarts != 5 {
				t.Errorf("crash_restarts = %d, want 5", b.CrashRestarts)
			}
		})
	})
	sum := Sum(a, b)
	sum.DrainS = a.DrainS
	t.Log(sum.Line())
}

func check(t *testing.T, r Result) {
	t.Helper()
	t.Log(r.Detail())
	for _, p := range r.Problems {
		t.Error(p)
	}
	if !r.OK() {
		t.Errorf("%s: %s", r.Scenario, r.Line())
	}
}
