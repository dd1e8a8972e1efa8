package backhaul

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
	"github.com/edgepulse/edgepulse/testbench/leaftap"
)

// Options shape a meter run.
type Options struct {
	Dir      string        // working directory: logs, configs, trees, data
	Sites    int           // sites, each with its own leaf and proxy; 1–26
	Hosts    int           // hosts (agents) per site; 1–100
	Window   time.Duration // agent window; 1 s – 1 h, whole seconds
	Lateness time.Duration // agent lateness; 0: min(2 s, window/5)
	// Duration is the warm-up window plus the measured windows: the run
	// measures Duration/Window − 1 windows (at least 1) in real time.
	Duration time.Duration
	Seed     uint64 // the synthetic hosts' dynamics
	// Tolerance is the relative error allowed between a stored statistic
	// and the agent's exact one (counts and counters' raw Last are exact):
	// the agents' wire precision (codec.DefaultWireOptions), 1 % when that
	// is exact. The bound checked is the codec's, Tolerance·(1+Tolerance).
	Tolerance float64
	Progress  io.Writer // progress lines; nil: discarded
	// LeafCompression replaces the leaf remote's compression (deploy/
	// leaf.conf: s2_best), e.g. "off" to measure what s2 saves; "": as
	// configured.
	LeafCompression string
	// AgentYAML is appended to every agent's config, e.g. "wire:
	// {compress: false}" (set Tolerance to match the wire precision).
	AgentYAML string
	// SiteAgentYAML[i] is appended to the configs of site i+1's agents
	// after AgentYAML: a variant per site, compared in the same run by
	// the per-site breakdown.
	SiteAgentYAML []string
	// SiteAgentBin[i], when set, is the agent binary site i+1 runs instead
	// of this checkout's (e.g. one built from main): the before and after
	// of an agent change on one uplink each, in the same run.
	SiteAgentBin []string
}

// defaultTolerance is the agents' wire precision, or 1 % when exact.
func defaultTolerance() float64 {
	if p := codec.DefaultWireOptions().Precision; p > 0 {
		return p
	}
	return 0.01
}

// DefaultOptions is `make backhaul`: 2 sites × 10 hosts, 60 s windows, 10
// measured windows after one of warm-up.
func DefaultOptions() Options {
	return Options{Sites: 2, Hosts: 10, Window: time.Minute, Duration: 11 * time.Minute, Seed: 1, Tolerance: defaultTolerance()}
}

// ShortOptions is the smoke test: 1 site × 2 hosts, 5 s windows, 40 s.
func ShortOptions() Options {
	return Options{Sites: 1, Hosts: 2, Window: 5 * time.Second, Duration: 40 * time.Second, Seed: 1, Tolerance: defaultTolerance()}
}

// Validate names the first bad field.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("backhaul: dir must be set")
	case o.Sites < 1 || o.Sites > 26:
		return fmt.Errorf("backhaul: sites %d must be between 1 and 26", o.Sites)
	case o.Hosts < 1 || o.Hosts > 100:
		return fmt.Errorf("backhaul: hosts %d must be between 1 and 100", o.Hosts)
	case o.Window < time.Second || o.Window > time.Hour || o.Window%time.Second != 0:
		return fmt.Errorf("backhaul: window %v must be whole seconds between 1s and 1h", o.Window)
	case o.Lateness < 0 || o.Lateness >= o.Window/2:
		return fmt.Errorf("backhaul: lateness %v must be ≥ 0 and below half the window %v", o.Lateness, o.Window)
	case o.Duration < 2*o.Window:
		return fmt.Errorf("backhaul: duration %v must be at least two windows (%v): one of warm-up and one measured", o.Duration, 2*o.Window)
	case o.LeafCompression != "" && !slices.Contains([]string{"off", "s2_fast", "s2_better", "s2_best", "s2_auto", "accept"}, o.LeafCompression):
		return fmt.Errorf("backhaul: leaf compression %q must be off, s2_fast, s2_better, s2_best, s2_auto or accept", o.LeafCompression)
	case len(o.SiteAgentBin) > o.Sites:
		return fmt.Errorf("backhaul: %d per-site agent binaries for %d sites", len(o.SiteAgentBin), o.Sites)
	case len(o.SiteAgentYAML) > o.Sites:
		return fmt.Errorf("backhaul: %d per-site agent configs for %d sites", len(o.SiteAgentYAML), o.Sites)
	case o.Tolerance <= 0 || o.Tolerance > 0.5:
		return fmt.Errorf("backhaul: tolerance %v must be in (0, 0.5]", o.Tolerance)
	}
	return nil
}

// Flow is bytes in the measured interval.
type Flow struct {
	Up, Down uint64 // on the wire: towards the receiver, back
	Payload  uint64 // message or request bodies
	Header   uint64 // NATS message headers (edgepulse only)
	Messages uint64 // messages or requests
	// Scheduled is the requests a baseline should have sent; when a
	// loaded machine made the sampler skip some, the byte counts are
	// scaled up to it (bytes per request × scheduled).
	Scheduled uint64
}

// Wire is both directions.
func (f Flow) Wire() uint64 { return f.Up + f.Down }

// Result is a run's outcome.
type Result struct {
	Sites, Hosts int
	RealHost     string // the host reading this machine's /proc
	Window       time.Duration
	Windows      int     // measured windows per host
	HostMinutes  float64 // hosts × measured minutes
	From, To     time.Time

	Edgepulse Flow
	Baselines [nProtos]Flow
	// Breakdown is Edgepulse's wire bytes by kind and direction (all
	// sites), SiteBreakdown the same per site; TapUnparsed counts bytes
	// the tap could not parse, OtherSubjects names what it called other.
	Breakdown     Breakdown
	SiteBreakdown []Breakdown
	TapUnparsed   uint64
	OtherSubjects []string

	// RealPayload and SynthPayload are message bytes per window of the
	// host on this machine's /proc and the mean of the synthetic ones.
	RealPayload, SynthPayload float64

	SeriesMin, SeriesMax int // rollups per window, over hosts
	SeriesMean           float64

	Techniques []TechniqueRow
	Fidelity   Fidelity
	Tolerance  float64
	TornLines  int

	LeafCompression, AgentYAML   string
	SiteAgentYAML, SiteAgentBin  []string
	BaselineSkipped              uint64 // scrapes a sampler skipped (more than 10 s behind)
	WriterErrors, BaselineErrors uint64
	Problems                     []string
}

// PerHostMinute divides bytes by the host-minutes measured.
func (r *Result) PerHostMinute(b uint64) float64 {
	if r.HostMinutes == 0 {
		return 0
	}
	return float64(b) / r.HostMinutes
}

// OK reports whether the pipeline delivered everything faithfully.
func (r *Result) OK() bool {
	f := r.Fidelity
	return f.WindowsExpected > 0 && f.WindowsStored == f.WindowsExpected && f.Checked > 0 && f.Mismatches == 0 &&
		f.Missing == 0 && len(r.Problems) == 0
}

// Line is the closing RESULT line: the totals, then Edgepulse's bytes per
// host-minute by kind (both directions).
func (r *Result) Line() string {
	return fmt.Sprintf("RESULT bytes_per_host_minute=%.0f series_per_host=%d prw_1s=%.0f prw_15s=%.0f influx_10s=%.0f %s",
		r.PerHostMinute(r.Edgepulse.Wire()), r.SeriesMin, r.PerHostMinute(r.Baselines[prw1s].Wire()),
		r.PerHostMinute(r.Baselines[prw15s].Wire()), r.PerHostMinute(r.Baselines[influx10s].Wire()), r.breakdownKeys())
}

// siteYAML is the agent config appended for site i's agents.
func (r *Result) siteYAML(i int) string {
	y := r.AgentYAML
	if i < len(r.SiteAgentYAML) && r.SiteAgentYAML[i] != "" {
		y = strings.TrimSpace(y + "\n" + r.SiteAgentYAML[i])
	}
	return y
}

func (r *Result) baselineSchedule() string {
	var parts []string
	for p := range nProtos {
		parts = append(parts, fmt.Sprintf("%s %d/%d", protoNames[p], r.Baselines[p].Messages, r.Baselines[p].Scheduled))
	}
	return strings.Join(parts, ", ")
}

// Print writes the tables and ends with the RESULT line.
func (r *Result) Print(w io.Writer) {
	if r.LeafCompression != "" || r.AgentYAML != "" || len(r.SiteAgentYAML) > 0 || len(r.SiteAgentBin) > 0 {
		fmt.Fprintf(w, "\nvariant: leaf compression %q, agent config %q", r.LeafCompression, r.AgentYAML)
		for i, y := range r.SiteAgentYAML {
			if y != "" {
				fmt.Fprintf(w, ", site s%d adds %q", i+1, y)
			}
		}
		for i, b := range r.SiteAgentBin {
			if b != "" {
				fmt.Fprintf(w, ", site s%d runs agent %s", i+1, b)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nbackhaul: %d sites × %d hosts = %d agents (%s reads this machine's /proc), %v windows, %d measured windows per host (%s – %s UTC), %.0f host-minutes\n",
		r.Sites, r.Hosts/r.Sites, r.Hosts, r.RealHost, r.Window, r.Windows, r.From.UTC().Format("15:04:05"), r.To.UTC().Format("15:04:05"), r.HostMinutes)
	fmt.Fprintf(w, "series per host: min %d, mean %.0f, max %d (rollups per window)\n\n", r.SeriesMin, r.SeriesMean, r.SeriesMax)
	fmt.Fprintf(w, "bytes per host-minute on the wire (both directions; payload = message/request bodies, overhead = wire − payload):\n")
	fmt.Fprintf(w, "%-44s %10s %12s %12s %10s %10s %9s\n", "", "wire", "leaf→hub/up", "hub→leaf/dn", "payload", "overhead", "msgs/h·m")
	row := func(name string, f Flow) {
		fmt.Fprintf(w, "%-44s %10.0f %12.0f %12.0f %10.0f %10.0f %9.2f\n", name, r.PerHostMinute(f.Wire()), r.PerHostMinute(f.Up),
			r.PerHostMinute(f.Down), r.PerHostMinute(f.Payload), r.PerHostMinute(f.Wire())-r.PerHostMinute(f.Payload), r.PerHostMinute(f.Messages))
	}
	row("edgepulse (leaf↔hub, counting proxy)", r.Edgepulse)
	row("prometheus remote write 1.0, 1 s scrape", r.Baselines[prw1s])
	row("prometheus remote write 1.0, 15 s scrape", r.Baselines[prw15s])
	row("influxdb line protocol gzip, 10 s", r.Baselines[influx10s])
	fmt.Fprintf(w, "edgepulse message body per window: %.0f B on the real /proc host, %.0f B mean of the synthetic hosts\n", r.RealPayload, r.SynthPayload)
	fmt.Fprintf(w, "baseline requests sent / scheduled: %s (bytes scaled to the schedule; %d scrapes skipped by a late sampler)\n", r.baselineSchedule(), r.BaselineSkipped)
	fmt.Fprintf(w, "edgepulse NATS headers in the payload column's messages: %.0f B per host-minute (counted as overhead)\n", r.PerHostMinute(r.Edgepulse.Header))
	fmt.Fprintf(w, "(a negative overhead means the leaf link's s2 compression saved more than the protocol costs)\n\n")
	r.printBreakdown(w)

	fmt.Fprintf(w, "techniques: payload bytes per host-minute, the same windows (agents' window logs) re-encoded offline;\n")
	fmt.Fprintf(w, "each frame row decoded again and compared with its batch (values checked / differing):\n")
	for _, t := range r.Techniques {
		if t.Err != "" {
			fmt.Fprintf(w, "  %-60s error: %s\n", t.Name, t.Err)
			continue
		}
		extra := ""
		if t.KeyframeBytes > 0 {
			extra = fmt.Sprintf(", keyframe %.0f B", t.KeyframeBytes)
		}
		if t.RoundTrip > 0 {
			extra += fmt.Sprintf(", round trip %d/%d", t.RoundTrip, t.RoundTripBad)
		}
		fmt.Fprintf(w, "  %-60s %9.0f  (%.0f B per window%s)\n", t.Name, t.BytesPerHostMin, t.BytesPerWindow, extra)
	}
	f := r.Fidelity
	fmt.Fprintf(w, "\nwindows: expected %d, logged by the agents %d, stored %d, lost %d\n", f.WindowsExpected, f.WindowsLogged, f.WindowsStored, f.WindowsExpected-f.WindowsStored)
	fmt.Fprintf(w, "fidelity: %d values, %d mismatches (%d rollups missing; tolerance %.2g relative, counts exact, counter raw values and gauge levels exact or within the tolerance of their window's step)\n", f.Checked, f.Mismatches, f.Missing, r.Tolerance)
	for _, e := range f.Examples {
		fmt.Fprintf(w, "  %s\n", e)
	}
	if r.TornLines > 0 || r.WriterErrors > 0 || r.BaselineErrors > 0 {
		fmt.Fprintf(w, "torn window-log lines %d, /proc writer errors %d, baseline errors %d\n", r.TornLines, r.WriterErrors, r.BaselineErrors)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM %s\n", p)
	}
	fmt.Fprintln(w, r.Line())
}

// Run runs the meter: the fleet, the synthetic hosts, the baselines in the
// same process, the measured windows in real time, then the fidelity check
// and the techniques table. Every process it started is stopped when it
// returns, also when ctx is cancelled.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Lateness == 0 {
		o.Lateness = min(2*time.Second, o.Window/5)
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	tmpl, err := LoadTemplates("/proc", filepath.Join(root, "edge", "collect", "testdata", "proc"))
	if err != nil {
		return nil, err
	}
	f, err := startFleet(ctx, o.Dir, o.Sites, o.LeafCompression, o.Progress)
	if err != nil {
		return nil, err
	}
	defer f.stop()

	r := &Result{Sites: o.Sites, Hosts: o.Sites * o.Hosts, Window: o.Window, Tolerance: o.Tolerance,
		LeafCompression: o.LeafCompression, AgentYAML: o.AgentYAML, SiteAgentYAML: o.SiteAgentYAML, SiteAgentBin: o.SiteAgentBin}
	now := time.Now()
	var synth []*Host
	for si, s := range f.sites {
		for hi := range o.Hosts {
			name := fmt.Sprintf("h%02d", hi+1)
			procRoot := "/proc"
			var sh *Host
			if si == 0 && hi == 0 {
				r.RealHost = s.name + "/" + name
			} else {
				sh, err = NewHost(filepath.Join(o.Dir, "trees", s.name+"-"+name), si*o.Hosts+hi, o.Seed, o.Duration, tmpl, now)
				if err != nil {
					return nil, err
				}
				synth = append(synth, sh)
				procRoot = sh.Proc
			}
			if _, err := f.addHost(s, name, procRoot, sh, o.Window, o.Lateness, r.siteYAML(si)); err != nil {
				return nil, err
			}
		}
	}
	bctx, stopBG := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() { stopBG(); bg.Wait() }()

	// The synthetic trees move half-way between two collections, so the
	// agents and the meter's own sampler read the same file versions.
	var writerErrs atomic.Uint64
	bg.Go(func() {
		for {
			now := time.Now()
			next := now.Truncate(time.Second).Add(1500 * time.Millisecond)
			if next.Sub(now) > time.Second {
				next = next.Add(-time.Second)
			}
			t := time.NewTimer(next.Sub(now))
			select {
			case <-bctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			for _, h := range synth {
				if err := h.Step(next); err != nil {
					writerErrs.Add(1)
				}
			}
		}
	})
	base, err := newBaselines(f.hosts())
	if err != nil {
		return nil, err
	}
	defer base.close()
	bg.Go(func() { base.run(bctx) })

	if err := f.startAgents(o.SiteAgentBin); err != nil {
		return nil, err
	}
	started := time.Now()
	w := o.Window
	warm := started.Truncate(w).Add(w)
	if warm.Sub(started) < 3*time.Second {
		warm = warm.Add(w)
	}
	n := max(1, int(o.Duration/w)-1)
	r.Windows = n
	r.From = warm.Add(w + w/2)
	r.To = r.From.Add(time.Duration(n) * w)
	r.HostMinutes = float64(r.Hosts) * float64(n) * w.Minutes()
	base.measure(r.From, r.To)
	f.logf("%d agents started; warm-up window %s, measuring %d windows from %s to %s",
		r.Hosts, warm.UTC().Format("15:04:05"), n, r.From.UTC().Format("15:04:05"), r.To.UTC().Format("15:04:05"))

	wait := func(until time.Time) error {
		for {
			d := time.Until(until)
			if d <= 0 {
				return nil
			}
			for _, h := range f.hosts() {
				if h.agent.Exited() {
					return fmt.Errorf("backhaul: agent %s exited:\n%s", h.id(), h.agent.Tail(3000))
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(d, 5*time.Second)):
			}
		}
	}
	if err := wait(r.From); err != nil {
		return nil, err
	}
	up0, kinds0 := f.uplink(), f.kinds()
	var b0 [nProtos][4]uint64
	for p := range nProtos {
		b0[p][0], b0[p][1], b0[p][2], b0[p][3] = base.wire(p)
	}
	for k := 1; k <= n; k++ {
		if err := wait(r.From.Add(time.Duration(k) * w)); err != nil {
			return nil, err
		}
		st := f.uplink().Sub(up0)
		msgs, _, _ := f.rec.between(r.From, time.Now())
		f.logf("window %d/%d: %d batches at the hub, uplink %d B up %d B down so far", k, n, msgs, st.Up, st.Down)
	}
	up1, kinds1 := f.uplink(), f.kinds()
	r.Breakdown = Breakdown{}
	for i := range kinds1 {
		b := Breakdown(leaftap.Sub(kinds1[i], kinds0[i]))
		r.SiteBreakdown = append(r.SiteBreakdown, b)
		for k, c := range b {
			t := r.Breakdown[k]
			t.Wire, t.Plain, t.Ops = t.Wire+c.Wire, t.Plain+c.Plain, t.Ops+c.Ops
			r.Breakdown[k] = t
		}
	}
	r.TapUnparsed, r.OtherSubjects = f.tapUnparsed(), f.classifier.names()
	msgs, body, hdr := f.rec.between(r.From, r.To)
	synthBody, synthMsgs := 0, 0
	for _, h := range f.hosts() {
		m, b := f.rec.bodyOf("tele."+h.site+"."+h.name, r.From, r.To)
		if m == 0 {
			continue
		}
		if h.synth == nil {
			r.RealPayload = float64(b) / float64(m)
		} else {
			synthBody, synthMsgs = synthBody+b, synthMsgs+m
		}
	}
	if synthMsgs > 0 {
		r.SynthPayload = float64(synthBody) / float64(synthMsgs)
	}
	r.Edgepulse = Flow{Up: up1.Up - up0.Up, Down: up1.Down - up0.Down, Payload: uint64(body), Header: uint64(hdr), Messages: uint64(msgs)}
	// The last baseline requests were sent before To; let them finish.
	harness.WaitFor(ctx, 10*time.Second, func() error {
		for p := range nProtos {
			_, _, _, reqs := base.wire(p)
			want := uint64(r.Hosts * scheduled(p, r.From, r.To))
			if reqs-b0[p][3] < want {
				return fmt.Errorf("%s: %d of %d requests", protoNames[p], reqs-b0[p][3], want)
			}
		}
		return nil
	})
	for p := range nProtos {
		u, d, b, q := base.wire(p)
		fl := Flow{Up: u - b0[p][0], Down: d - b0[p][1], Payload: b - b0[p][2], Messages: q - b0[p][3],
			Scheduled: uint64(r.Hosts * scheduled(p, r.From, r.To))}
		if fl.Messages > 0 && fl.Messages < fl.Scheduled {
			k := float64(fl.Scheduled) / float64(fl.Messages)
			fl.Up, fl.Down, fl.Payload = uint64(float64(fl.Up)*k), uint64(float64(fl.Down)*k), uint64(float64(fl.Payload)*k)
		}
		r.Baselines[p] = fl
	}
	r.BaselineSkipped = base.skipped.Load()
	stopBG()
	bg.Wait()
	r.WriterErrors, r.BaselineErrors = writerErrs.Load(), base.errs.Load()
	if r.BaselineErrors > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d baseline scrapes failed, last: %v", r.BaselineErrors, base.lastErr.Load()))
	}

	// Every window up to the last measured one must reach Redis.
	last := r.To.Add(-w / 2) // the last measured window ends here
	f.logf("measured; waiting for the aggregator to store the last window, then stopping the agents")
	st, err := store.Open(ctx, store.Options{Addr: f.redis.Addr})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	logs := map[string][]*codec.Batch{}
	from, to := warm.UnixMilli(), last.Add(-w).UnixMilli() // window starts checked: warm-up … last measured
	err = harness.WaitFor(ctx, 60*time.Second, func() error {
		for _, h := range f.hosts() {
			bs, torn, err := ReadWindowLog(h.windowLog)
			if err != nil {
				return err
			}
			logs[h.id()] = bs
			r.TornLines = torn
		}
		fid, err := checkFidelity(ctx, st, logs, from, to, w.Milliseconds(), o.Tolerance)
		if err != nil {
			return err
		}
		r.Fidelity = fid
		if fid.Missing > 0 || fid.WindowsLogged < fid.WindowsExpected {
			return fmt.Errorf("%d rollups not yet in Redis, %d of %d windows logged", fid.Missing, fid.WindowsLogged, fid.WindowsExpected)
		}
		return nil
	})
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		r.Problems = append(r.Problems, "fidelity: "+err.Error())
	}
	f.stopAgents()

	// Series per host: rollups per measured window.
	r.SeriesMin = -1
	total, count := 0, 0
	for _, id := range slices.Sorted(mapsKeys(logs)) {
		mx := 0
		for _, b := range logs[id] {
			if b.Start >= r.From.Add(-w/2).UnixMilli() && b.Start < r.To.Add(-w/2).UnixMilli() {
				mx = max(mx, len(b.Rollups))
			}
		}
		if r.SeriesMin < 0 || mx < r.SeriesMin {
			r.SeriesMin = mx
		}
		r.SeriesMax = max(r.SeriesMax, mx)
		total += mx
		count++
	}
	if count > 0 {
		r.SeriesMean = float64(total) / float64(count)
	}
	r.SeriesMin = max(0, r.SeriesMin)
	r.Techniques = measureTechniques(logs, r.From.Add(-w/2).UnixMilli(), r.To.Add(-w/2).UnixMilli(), r.HostMinutes)
	return r, nil
}

// scheduled counts one host's requests of baseline p in [from, to): the
// seconds that are multiples of its interval.
func scheduled(p proto, from, to time.Time) int {
	n := 0
	for ts := from.Truncate(time.Second); ts.Before(to); ts = ts.Add(time.Second) {
		if !ts.Before(from) && ts.UnixMilli()%p.every().Milliseconds() == 0 {
			n++
		}
	}
	return n
}
