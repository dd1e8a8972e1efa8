package chaos

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// skewedAgents are the broken clocks of clock_skew: a host a clock.
var skewedAgents = []struct {
	host, cfg string
	offset    time.Duration
	corrected bool
}{
	{"skewahead", "clock: {test_offset: 10m}", 10 * time.Minute, true},
	{"skewbehind", "clock: {test_offset: -480h}", -480 * time.Hour, true}, // −20 days
	{"skewraw", "clock: {test_offset: 10m, correct: false}", 10 * time.Minute, false},
}

// clockSkew runs three more agents whose clocks are off (+10 min and −20
// days, corrected; +10 min with the correction off) for a while, then
// counts where their windows were stored: a corrected agent's windows
// must end within two windows of when they were shipped, the uncorrected
// one's 10 min ahead — and counted by the aggregator as skewed.
func clockSkew(ctx context.Context, st *harness.Stack, o Options) (string, error) {
	fmt.Fprintf(o.Log, "clock_skew: agents at +10m and -20d (corrected) and +10m (correct: false) for %v\n", o.After)
	before, _ := statz(ctx, st.APIURL)
	start := time.Now()
	var procs []*harness.Proc
	for _, a := range skewedAgents {
		p, err := st.StartAgent("agent-"+a.host, a.host, a.cfg+"\n")
		if err != nil {
			return "", err
		}
		procs = append(procs, p)
	}
	if err := sleep(ctx, o.After); err != nil {
		return "", err
	}
	for _, p := range procs {
		p.Stop()
	}
	stop := time.Now()
	out := "RESULT scenario=clock_skew"
	for _, a := range skewedAgents {
		sel := fmt.Sprintf(`node_load1{instance=%q}`, a.host)
		at := time.Now()
		if !a.corrected {
			at = at.Add(a.offset + time.Minute)
		}
		var pts [][2]float64
		err := harness.WaitFor(ctx, 30*time.Second, func() error {
			var err error
			pts, err = samples(ctx, st.APIURL, sel, at)
			return err
		})
		if err != nil {
			return "", fmt.Errorf("%s: %w", a.host, err)
		}
		// Windows stamped more than two windows (4 s) outside the time
		// the agent ran.
		off, worst := 0, 0.0
		for _, p := range pts {
			lo, hi := float64(start.Unix())-4, float64(stop.Unix())+4
			d := math.Max(lo-p[0], p[0]-hi)
			if d > 0 {
				off++
				worst = math.Max(worst, d)
			}
		}
		out += fmt.Sprintf(" %s_windows=%d %s_off=%d %s_worst_off_s=%.0f", a.host, len(pts), a.host, off, a.host, worst)
	}
	after, _ := statz(ctx, st.APIURL)
	skewed := func(m map[string]any, k string) float64 {
		s, _ := m["Skewed"].(map[string]any)
		f, _ := s[k].(float64)
		return f
	}
	out += fmt.Sprintf(" counted_ahead=%.0f counted_behind=%.0f",
		skewed(after, "ahead")-skewed(before, "ahead"), skewed(after, "behind")-skewed(before, "behind"))
	return out, nil
}
