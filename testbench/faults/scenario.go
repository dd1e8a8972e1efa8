package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// redisPrefix is the aggregator's default key prefix.
const redisPrefix = "ep:"

// cutGrace is how long after a cut batches already on their way may still
// reach the hub.
const cutGrace = 2 * time.Second

// OutageOptions configure scenario A.
type OutageOptions struct {
	Dir           string
	Sites         int           // default 3
	AgentsPerSite int           // default 5
	Window        time.Duration // default 1 s
	Outage        time.Duration // how long every uplink is cut; default 2 min
	Progress      io.Writer
}

// DefaultOutageOptions are scenario A's full-size settings.
func DefaultOutageOptions() OutageOptions {
	return OutageOptions{Sites: 3, AgentsPerSite: 5, Window: time.Second, Outage: 2 * time.Minute}
}

// Validate names the first bad field.
func (o OutageOptions) Validate() error {
	if o.Outage < 4*max(o.Window, time.Second) || o.Outage > time.Hour {
		return fmt.Errorf("faults: outage %v must be between 4 windows and 1h", o.Outage)
	}
	return FleetOptions{Dir: o.Dir, Sites: o.Sites, AgentsPerSite: o.AgentsPerSite, Window: o.Window}.Validate()
}

// KillOptions configure scenario B.
type KillOptions struct {
	Dir      string
	Kills    int           // SIGKILL + restart cycles; default 20
	Window   time.Duration // default 1 s
	Seed     uint64        // for the kill moments
	Progress io.Writer
}

// DefaultKillOptions are scenario B's full-size settings.
func DefaultKillOptions() KillOptions {
	return KillOptions{Kills: 20, Window: time.Second, Seed: 1}
}

// Validate names the first bad field.
func (o KillOptions) Validate() error {
	if o.Kills < 2 || o.Kills > 1000 {
		return fmt.Errorf("faults: kills %d must be between 2 and 1000", o.Kills)
	}
	return FleetOptions{Dir: o.Dir, Sites: 1, AgentsPerSite: 1, Window: o.Window}.Validate()
}

// start brings a fleet up with a recorder on the hub and its agents
// running, and waits until every agent has shipped two windows.
func start(ctx context.Context, fo FleetOptions) (*Fleet, *Recorder, error) {
	f, err := StartFleet(ctx, fo)
	if err != nil {
		return nil, nil, err
	}
	rec, err := NewRecorder(f.HubURL, redisPrefix)
	if err != nil {
		f.Stop()
		return nil, nil, err
	}
	if err := f.StartAgents(); err != nil {
		rec.Close()
		f.Stop()
		return nil, nil, err
	}
	err = harness.WaitFor(ctx, 90*time.Second, func() error {
		for _, a := range f.Agents() {
			if q, _ := rec.Contiguous(a.ID, a.FirstSeq); q < a.FirstSeq+1 {
				return fmt.Errorf("agent %s has shipped %d windows", a.ID, q+1-a.FirstSeq)
			}
		}
		return nil
	})
	if err != nil {
		rec.Close()
		f.Stop()
		return nil, nil, fmt.Errorf("faults: warm-up: %w\n%s", err, f.logTails())
	}
	f.progress("warm: every agent shipped 2 windows")
	return f, rec, nil
}

// waitCaughtUp waits until every agent's batches have reached the hub
// without a gap up to a window that ended after since.
func waitCaughtUp(ctx context.Context, f *Fleet, rec *Recorder, since time.Time, timeout time.Duration) error {
	return harness.WaitFor(ctx, timeout, func() error {
		for _, a := range f.Agents() {
			if _, end := rec.Contiguous(a.ID, a.FirstSeq); end < since.UnixMilli() {
				return fmt.Errorf("agent %s: gap-free only up to a window ending %v before %v",
					a.ID, since.Sub(time.UnixMilli(end)).Round(time.Millisecond), since.Format("15:04:05"))
			}
		}
		return nil
	})
}

// finish stops the agents' hosts producing data, waits until their
// spools are empty and the aggregator has consumed the stream, stops the
// agents cleanly and verifies.
func finish(ctx context.Context, f *Fleet, rec *Recorder, r *Result) error {
	agents := f.Agents()
	for _, a := range agents {
		if err := a.Quiesce(); err != nil {
			return err
		}
	}
	// Quiet means: no agent closed a window for two windows and a second
	// (a starved agent on a loaded machine may close its last window late,
	// so a fixed pause is not enough), and every spool is empty.
	settle := 2*f.opts.Window + time.Second
	windows := map[string]float64{}
	changed := map[string]time.Time{}
	err := harness.WaitFor(ctx, 2*time.Minute, func() error {
		for _, a := range agents {
			m, err := a.Metrics()
			if err != nil {
				return fmt.Errorf("%s metrics: %w", a.ID, err)
			}
			if w := m["edgepulse_agent_windows_total"]; w != windows[a.ID] || changed[a.ID].IsZero() {
				windows[a.ID], changed[a.ID] = w, time.Now()
			}
			if d := time.Since(changed[a.ID]); d < settle {
				return fmt.Errorf("%s closed a window %v ago", a.ID, d.Round(time.Millisecond))
			}
			if n := m["edgepulse_agent_spool_batches"]; n != 0 {
				return fmt.Errorf("%s: %v batches in the spool", a.ID, n)
			}
		}
		return nil
	})
	if err != nil {
		r.Problems = append(r.Problems, "final drain: "+err.Error())
	}
	for _, a := range agents {
		if m, err := a.Metrics(); err == nil {
			r.Rejected += int(m["edgepulse_agent_publish_rejected_total"])
			r.SpoolDropped += int(m["edgepulse_agent_spool_dropped_total"])
		}
	}
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Go(a.Proc.Stop)
	}
	wg.Wait()
	f.progress("agents stopped; waiting for the aggregator to empty the stream")
	js, err := jetstream.New(rec.nc)
	if err != nil {
		return err
	}
	err = harness.WaitFor(ctx, 2*time.Minute, func() error {
		s, err := js.Stream(ctx, "TELEMETRY")
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs != 0 {
			return fmt.Errorf("TELEMETRY holds %d messages", info.State.Msgs)
		}
		return nil
	})
	if err != nil {
		r.Problems = append(r.Problems, "aggregator: "+err.Error())
	}
	if err := verify(ctx, f, rec, agents, r); err != nil {
		return err
	}
	f.progress("%s", r.Detail())
	return nil
}

// RunOutage is scenario A: every site's uplink is cut for o.Outage; during
// the outage one agent is killed with SIGKILL and restarted and one
// site's leaf node is killed and restarted; then the links come back and
// the run waits for the agents to drain, stops them and verifies.
func RunOutage(ctx context.Context, o OutageOptions) (Result, error) {
	r := Result{Scenario: "A-outage", DrainS: -1}
	if err := o.Validate(); err != nil {
		return r, err
	}
	f, rec, err := start(ctx, FleetOptions{Dir: o.Dir, Sites: o.Sites, AgentsPerSite: o.AgentsPerSite, Window: o.Window, Progress: o.Progress})
	if err != nil {
		return r, err
	}
	defer f.Stop()
	defer rec.Close()

	cut := time.Now()
	for _, s := range f.Sites {
		s.Proxy.Cut()
	}
	f.progress("uplinks cut for %v", o.Outage)
	at := func(frac float64) error {
		t := time.NewTimer(time.Until(cut.Add(time.Duration(frac * float64(o.Outage)))))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}

	// An agent dies during the outage and comes back.
	if err := at(0.25); err != nil {
		return r, err
	}
	victim := f.Sites[0].Agents[len(f.Sites[0].Agents)/2]
	victim.Proc.Kill()
	f.progress("agent %s killed (SIGKILL)", victim.ID)
	if err := at(0.35); err != nil {
		return r, err
	}
	if err := restart(ctx, victim, &r); err != nil {
		return r, err
	}
	f.progress("agent %s restarted and running", victim.ID)

	// One site's leaf node dies and comes back.
	if err := at(0.5); err != nil {
		return r, err
	}
	site := f.Sites[len(f.Sites)-1]
	site.Leaf.Kill()
	if err := site.StartLeaf(ctx); err != nil {
		return r, err
	}
	f.progress("leaf of site %s killed (SIGKILL) and restarted", site.Name)

	if err := at(1); err != nil {
		return r, err
	}
	restore := time.Now()
	for _, s := range f.Sites {
		s.Proxy.Restore()
	}
	f.progress("uplinks restored after %v", restore.Sub(cut).Round(time.Millisecond))
	if err := waitCaughtUp(ctx, f, rec, restore.Add(2*f.opts.Window), time.Minute+o.Outage); err != nil {
		r.Problems = append(r.Problems, "drain: "+err.Error())
	}
	r.DrainS, r.Backlog = drain(rec, f.Agents(), restore)
	f.progress("drained: %d backlog batches, the last %.1f s after the restore", r.Backlog, r.DrainS)
	if n := leaks(rec, f.Agents(), cut.Add(cutGrace), restore); n > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d batches reached the hub while every uplink was cut", n))
	}
	return r, finish(ctx, f, rec, &r)
}

// restart starts a killed agent again and waits until it runs (its spool
// reopened); a restart that does not come up is a reopen failure.
func restart(ctx context.Context, a *Agent, r *Result) error {
	if err := a.Start(); err != nil {
		return err
	}
	r.CrashRestarts++
	err := harness.WaitFor(ctx, 60*time.Second, func() error {
		if a.Proc.Exited() {
			return errors.New("agent process exited by itself")
		}
		if a.Running() < a.Starts {
			return errors.New("agent not running yet")
		}
		return nil
	})
	if err != nil {
		r.ReopenFailures++
		r.Problems = append(r.Problems, fmt.Sprintf("%s restart %d: %v\n%s", a.ID, a.Starts, err, a.Proc.Tail(2000)))
		if a.Proc.Exited() {
			return a.Start() // keep the run going; the failure is counted
		}
	}
	return nil
}

// RunKills is scenario B: one agent is killed with SIGKILL o.Kills times
// at random moments (0.5–5 s after it came up) and restarted each time;
// the site's uplink is cut for the first half of the kills, so the spool
// carries a growing backlog across crashes, and restored for the second
// half, so kills land in the middle of replays and acks.
func RunKills(ctx context.Context, o KillOptions) (Result, error) {
	r := Result{Scenario: "B-kills", DrainS: -1}
	if err := o.Validate(); err != nil {
		return r, err
	}
	f, rec, err := start(ctx, FleetOptions{Dir: o.Dir, Sites: 1, AgentsPerSite: 1, Window: o.Window, Progress: o.Progress})
	if err != nil {
		return r, err
	}
	defer f.Stop()
	defer rec.Close()
	a, site := f.Agents()[0], f.Sites[0]
	rng := rand.New(rand.NewPCG(o.Seed, 0xfa017))
	var restore time.Time
	cut := time.Now()
	site.Proxy.Cut()
	f.progress("uplink of %s cut for the first %d kills", site.Name, o.Kills/2)
	for i := range o.Kills {
		if i == o.Kills/2 {
			restore = time.Now()
			site.Proxy.Restore()
			f.progress("uplink restored")
			if n := leaks(rec, f.Agents(), cut.Add(cutGrace), restore); n > 0 {
				r.Problems = append(r.Problems, fmt.Sprintf("%d batches reached the hub while the uplink was cut", n))
			}
		}
		// A random moment of the agent's life: during start-up replay,
		// a spool append or delete, a publish, or idle.
		d := time.Duration(500+rng.IntN(4500)) * time.Millisecond
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return r, ctx.Err()
		case <-t.C:
		}
		if a.Proc.Exited() {
			r.ReopenFailures++
			r.Problems = append(r.Problems, fmt.Sprintf("%s exited by itself before kill %d:\n%s", a.ID, i+1, a.Proc.Tail(2000)))
		}
		a.Proc.Kill()
		if err := restart(ctx, a, &r); err != nil {
			return r, err
		}
	}
	f.progress("%d kills done", o.Kills)
	if a.LogContains("spool unreadable") {
		r.Problems = append(r.Problems, a.ID+": a spool was moved aside as unreadable")
	}
	if err := waitCaughtUp(ctx, f, rec, time.Now(), 90*time.Second); err != nil {
		r.Problems = append(r.Problems, "drain: "+err.Error())
	}
	r.DrainS, r.Backlog = drain(rec, f.Agents(), restore)
	return r, finish(ctx, f, rec, &r)
}

// logTails returns the end of every process log.
func (f *Fleet) logTails() string {
	out := ""
	procs := []*harness.Proc{f.Agg}
	for _, s := range f.Sites {
		procs = append(procs, s.Leaf)
	}
	for _, a := range f.Agents() {
		procs = append(procs, a.Proc)
	}
	for _, p := range procs {
		if p != nil {
			out += fmt.Sprintf("--- %s (%s):\n%s\n", p.Name, filepath.Base(p.Log), p.Tail(1500))
		}
	}
	return out
}
