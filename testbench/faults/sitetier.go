package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// Site-tier modes (docs/site-tier.md).
const (
	// ModeDirect: agents publish through a plain leaf straight into the
	// hub's stream (deploy/leaf.conf).
	ModeDirect = "direct"
	// ModeSourced: the leaf runs a JetStream domain with a site stream and
	// the hub's stream sources from it (deploy/leaf-domain.conf).
	ModeSourced = "sourced"
)

// SiteTierOptions configure one site-tier measurement.
type SiteTierOptions struct {
	Dir      string
	Mode     string        // ModeDirect or ModeSourced
	Agents   int           // agents on the site; default 5
	Window   time.Duration // default 1 s
	Idle     time.Duration // idle measurement (no agents); default 3 min
	Load     time.Duration // measurement with agents running; default 2 min
	Outage   time.Duration // uplink cut before the drain measurement; default 1 min
	Progress io.Writer
}

// DefaultSiteTierOptions returns the defaults for mode.
func DefaultSiteTierOptions(mode string) SiteTierOptions {
	return SiteTierOptions{Mode: mode, Agents: 5, Window: time.Second, Idle: 3 * time.Minute, Load: 2 * time.Minute, Outage: time.Minute}
}

// Validate names the first bad field.
func (o SiteTierOptions) Validate() error {
	switch {
	case o.Mode != ModeDirect && o.Mode != ModeSourced:
		return fmt.Errorf("faults: mode %q must be %q or %q", o.Mode, ModeDirect, ModeSourced)
	case o.Idle < 10*time.Second || o.Load < 10*time.Second || o.Outage < 5*time.Second:
		return fmt.Errorf("faults: idle %v, load %v must be ≥ 10s and outage %v ≥ 5s", o.Idle, o.Load, o.Outage)
	}
	return FleetOptions{Dir: o.Dir, Sites: 1, AgentsPerSite: o.Agents, Window: o.Window}.Validate()
}

// SiteTierResult is what one mode costs on the uplink (bytes counted by
// the proxy between leaf and hub, both directions, on the wire: after s2,
// with protocol overhead).
type SiteTierResult struct {
	Mode string
	// Idle: no agent running, the leaf connected (and, sourced, the hub's
	// source consumer set up).
	IdleSeconds       float64
	IdleUp, IdleDown  uint64
	IdleBytesPerHour  float64 // (up+down) scaled from IdleSeconds to an hour
	Agents            int
	LoadSeconds       float64
	LoadBatches       int // batches stored in the hub stream during the load phase
	LoadUp, LoadDown  uint64
	BytesPerBatch     float64 // (up+down) / batches, idle traffic included
	BytesPerBatchNet  float64 // the same with the idle rate subtracted
	BatchPayloadBytes float64 // mean encoded batch size (before s2)
	// Outage: the uplink cut for OutageSeconds with the agents running.
	OutageSeconds float64
	DrainSeconds  float64 // restore → every agent's last stored window ended after the restore
	DrainUp       uint64
	DrainDown     uint64
}

// Line is the result as one line.
func (r SiteTierResult) Line() string {
	return fmt.Sprintf("SITETIER mode=%s idle_s=%.0f idle_up=%d idle_down=%d idle_bytes_per_hour=%.0f agents=%d load_s=%.0f "+
		"batches=%d load_up=%d load_down=%d bytes_per_batch=%.0f bytes_per_batch_net=%.0f batch_payload=%.0f "+
		"outage_s=%.0f drain_s=%.1f drain_up=%d drain_down=%d",
		r.Mode, r.IdleSeconds, r.IdleUp, r.IdleDown, r.IdleBytesPerHour, r.Agents, r.LoadSeconds,
		r.LoadBatches, r.LoadUp, r.LoadDown, r.BytesPerBatch, r.BytesPerBatchNet, r.BatchPayloadBytes,
		r.OutageSeconds, r.DrainSeconds, r.DrainUp, r.DrainDown)
}

// RunSiteTier measures one mode: one site, a stock nats-server hub with
// JetStream, the counting proxy on the leaf's uplink.
func RunSiteTier(ctx context.Context, o SiteTierOptions) (SiteTierResult, error) {
	r := SiteTierResult{Mode: o.Mode, Agents: o.Agents}
	if err := o.Validate(); err != nil {
		return r, err
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return r, err
	}
	fo := FleetOptions{Dir: o.Dir, Sites: 1, AgentsPerSite: o.Agents, Window: o.Window, Progress: o.Progress, StockHub: true}
	if o.Mode == ModeSourced {
		fo.LeafConfig = filepath.Join(root, "deploy", "leaf-domain.conf")
		fo.LeafEnv = func(site string) []string {
			return []string{"EDGEPULSE_SITE=" + site, "EDGEPULSE_LEAF_STORE=" + filepath.Join(o.Dir, "leaf-js-"+site)}
		}
	}
	f, err := StartFleet(ctx, fo)
	if err != nil {
		return r, err
	}
	defer f.Stop()
	site := f.Sites[0]
	hub, err := nats.Connect(f.HubURL)
	if err != nil {
		return r, err
	}
	defer hub.Close()
	hjs, _ := jetstream.New(hub)
	hubStream, err := createSiteTierStreams(ctx, f, site, hjs, o.Mode)
	if err != nil {
		return r, err
	}

	// Settle: the leaf connected through the proxy, the source (if any)
	// established; then measure idle.
	err = harness.WaitFor(ctx, 60*time.Second, func() error {
		if site.Proxy.Stats().Active != 1 {
			return errors.New("leaf not connected through the proxy")
		}
		if o.Mode == ModeSourced {
			info, err := hubStream.Info(ctx)
			if err != nil {
				return err
			}
			if len(info.Sources) != 1 || info.Sources[0].Active <= 0 || info.Sources[0].Active > 5*time.Second || info.Sources[0].Error != nil {
				return fmt.Errorf("source not active: %+v", info.Sources)
			}
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("faults: site tier %s: settle: %w\n%s", o.Mode, err, f.logTails())
	}
	if err := sleep(ctx, 5*time.Second); err != nil {
		return r, err
	}
	f.progress("%s: idle for %v", o.Mode, o.Idle)
	s0, t0 := site.Proxy.Stats(), time.Now()
	if err := sleep(ctx, o.Idle); err != nil {
		return r, err
	}
	idle := site.Proxy.Stats().Sub(s0)
	r.IdleSeconds = time.Since(t0).Seconds()
	r.IdleUp, r.IdleDown = idle.Up, idle.Down
	r.IdleBytesPerHour = float64(idle.Up+idle.Down) / r.IdleSeconds * 3600
	f.progress("%s: idle %d B up, %d B down in %.0f s", o.Mode, idle.Up, idle.Down, r.IdleSeconds)

	// Load.
	if err := f.StartAgents(); err != nil {
		return r, err
	}
	count := func() (uint64, error) {
		info, err := hubStream.Info(ctx)
		if err != nil {
			return 0, err
		}
		return info.State.Msgs, nil
	}
	err = harness.WaitFor(ctx, 90*time.Second, func() error {
		n, err := count()
		if err == nil && n < uint64(3*o.Agents) {
			err = fmt.Errorf("hub stream holds %d batches", n)
		}
		return err
	})
	if err != nil {
		return r, fmt.Errorf("faults: site tier %s: warm-up: %w\n%s", o.Mode, err, f.logTails())
	}
	n0, _ := count()
	info0, _ := hubStream.Info(ctx)
	s0, t0 = site.Proxy.Stats(), time.Now()
	if err := sleep(ctx, o.Load); err != nil {
		return r, err
	}
	load := site.Proxy.Stats().Sub(s0)
	n1, _ := count()
	info1, _ := hubStream.Info(ctx)
	r.LoadSeconds = time.Since(t0).Seconds()
	r.LoadUp, r.LoadDown, r.LoadBatches = load.Up, load.Down, int(n1-n0)
	if r.LoadBatches > 0 {
		total := float64(load.Up + load.Down)
		r.BytesPerBatch = total / float64(r.LoadBatches)
		r.BytesPerBatchNet = (total - r.IdleBytesPerHour/3600*r.LoadSeconds) / float64(r.LoadBatches)
		r.BatchPayloadBytes = float64(info1.State.Bytes-info0.State.Bytes) / float64(r.LoadBatches)
	}
	f.progress("%s: load %d batches, %d B up, %d B down in %.0f s", o.Mode, r.LoadBatches, load.Up, load.Down, r.LoadSeconds)

	// Outage and drain.
	site.Proxy.Cut()
	f.progress("%s: uplink cut for %v", o.Mode, o.Outage)
	if err := sleep(ctx, o.Outage); err != nil {
		return r, err
	}
	restore := time.Now()
	s0 = site.Proxy.Stats()
	site.Proxy.Restore()
	r.OutageSeconds = o.Outage.Seconds()
	err = harness.WaitFor(ctx, 5*time.Minute, func() error {
		for _, a := range f.Agents() {
			m, err := hubStream.GetLastMsgForSubject(ctx, "tele."+a.Site+"."+a.Host)
			if err != nil {
				return fmt.Errorf("%s: %w", a.ID, err)
			}
			b, err := codec.ParseFrame(m.Data)
			if err != nil {
				return fmt.Errorf("%s: %w", a.ID, err)
			}
			if b.Start+b.Width < restore.UnixMilli() {
				return fmt.Errorf("%s: last stored window ends %v before the restore", a.ID,
					restore.Sub(time.UnixMilli(b.Start+b.Width)).Round(time.Millisecond))
			}
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("faults: site tier %s: drain: %w\n%s", o.Mode, err, f.logTails())
	}
	r.DrainSeconds = time.Since(restore).Seconds()
	d := site.Proxy.Stats().Sub(s0)
	r.DrainUp, r.DrainDown = d.Up, d.Down
	f.progress("%s", r.Line())
	return r, nil
}

// createSiteTierStreams creates the hub's TELEMETRY stream (and, sourced,
// the site stream on the leaf) and returns the hub stream.
func createSiteTierStreams(ctx context.Context, f *Fleet, site *Site, hjs jetstream.JetStream, mode string) (jetstream.Stream, error) {
	hub := jetstream.StreamConfig{
		Name: "TELEMETRY", Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
		Duplicates: 2 * time.Hour, MaxMsgSize: codec.MaxBatchBytes, MaxAge: 24 * time.Hour,
	}
	switch mode {
	case ModeDirect:
		hub.Subjects = []string{"tele.*.*"}
	case ModeSourced:
		lnc, err := nats.Connect(site.LeafURL)
		if err != nil {
			return nil, err
		}
		defer lnc.Close()
		ljs, _ := jetstream.New(lnc)
		_, err = ljs.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: "SITE_TELE", Subjects: []string{"tele.*.*"}, Retention: jetstream.LimitsPolicy,
			Storage: jetstream.FileStorage, Duplicates: 2 * time.Hour, MaxAge: 7 * 24 * time.Hour, MaxMsgSize: codec.MaxBatchBytes,
		})
		if err != nil {
			return nil, fmt.Errorf("faults: site stream on leaf %s: %w", site.Name, err)
		}
		hub.Sources = []*jetstream.StreamSource{{Name: "SITE_TELE", External: &jetstream.ExternalStream{APIPrefix: "$JS." + site.Name + ".API"}}}
	}
	s, err := hjs.CreateOrUpdateStream(ctx, hub)
	if err != nil {
		return nil, fmt.Errorf("faults: hub stream: %w", err)
	}
	return s, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
