// Command edgepulse-uibench measures the web console (make ui-bench) on a
// real one-host stack (10 s windows as make run, the agent on the fixture
// /proc by default or -proc /proc, leaf link through the counting proxy)
// in headless chromium:
//
//   - push latency: frame applied (store write acknowledged, the
//     aggregator's clock) to the message in the browser (its clock; same
//     host), over every window pushed to an open host page;
//   - live latency: a live sample read on the agent to the browser;
//   - uplink bytes per host-minute (proxy, leaf → hub): before any viewer
//     (baseline), while a host page is in live mode, and after it closed;
//   - fleet page render time with 1,000 more hosts seeded into Redis.
//
// It ends with
//
//	RESULT push_p99_ms=… live_p99_ms=… live_bytes_per_min=… after_close_bytes_per_min=… fleet_render_ms=…
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
	"github.com/edgepulse/edgepulse/testbench/uibench"
)

func main() {
	quiet := flag.Duration("quiet", 3*time.Minute, "span of each no-viewer measurement (baseline, after close)")
	liveFor := flag.Duration("live", time.Minute, "span of the live-mode measurement")
	hosts := flag.Int("hosts", 1000, "simulated hosts for the fleet page")
	dir := flag.String("dir", "", "working directory (default: a temporary one, removed after)")
	proc := flag.String("proc", "fixture", `the agent's /proc: "fixture" (testbench/testdata/proc, constant values, so the uplink's baseline is steady and what live mode adds or leaves behind shows) or a path such as /proc`)
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(*dir, *proc, *quiet, *liveFor, *hosts); err != nil {
		log.Fatal(err)
	}
}

func run(dir, proc string, quiet, liveFor time.Duration, nHosts int) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "edgepulse-uibench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	sctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(sctx, 30*time.Minute)
	defer cancel()
	if proc == "fixture" {
		root, err := harness.RepoRoot()
		if err != nil {
			return err
		}
		proc = filepath.Join(dir, "proc")
		if err := harness.CopyTree(filepath.Join(root, "testbench", "testdata", "proc"), proc); err != nil {
			return err
		}
	}
	log.Printf("agent on %s, 10 s windows; load average %s", proc, loadavg())
	s, err := uibench.StartStack(ctx, uibench.StackOptions{Dir: dir, ProcRoot: proc, Window: "10s"})
	if err != nil {
		return err
	}
	defer s.Stop()
	bctx, bcancel, err := uibench.Browser(ctx, dir)
	if err != nil {
		return err
	}
	defer bcancel()
	ui := s.APIURL + "/ui/"

	// A host page stays open throughout: every window is pushed to it.
	watch, wcancel := chromedp.NewContext(bctx)
	defer wcancel()
	if err := chromedp.Do(watch, chromedp.Navigate(ui+"#/host/siteA/hostA?range=15m")); err != nil {
		return err
	}
	log.Printf("stack up (%s); warming up until two windows are pushed", s.APIURL)
	if err := uibench.WaitJS(watch, 90*time.Second, "window.__ep.pushLat.length >= 2"); err != nil {
		errs, _ := uibench.Eval[any](watch, "JSON.stringify(window.__ep)")
		return fmt.Errorf("no windows pushed: %w\npage state: %v\n%s", err, errs, s.Logs())
	}

	// Live frames as the hub sees them (this subscription alone never
	// starts a stream: only a lease does).
	nc, err := nats.Connect(s.HubURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	var liveFrames atomic.Int64
	if _, err := nc.Subscribe(codec.LiveSubject("siteA", "hostA"), func(*nats.Msg) { liveFrames.Add(1) }); err != nil {
		return err
	}

	baseline := measure(ctx, s, quiet, "baseline, no viewer")
	framesBefore := liveFrames.Load()

	live, lcancel := chromedp.NewContext(bctx)
	err = chromedp.Do(live, chromedp.Navigate(ui+"#/host/siteA/hostA?range=15m"), chromedp.WaitVisible("#live-btn"), chromedp.Click("#live-btn"))
	if err == nil {
		err = uibench.WaitJS(live, 30*time.Second, "window.__ep.liveFrames >= 3")
	}
	if err != nil {
		lcancel()
		return fmt.Errorf("live mode: %w\n%s", err, s.Logs())
	}
	liveBPM := measure(ctx, s, liveFor, "live view open")
	liveLat, _ := uibench.Eval[[]float64](live, "window.__ep.liveLat")
	shown, _ := uibench.Eval[float64](live, "window.__ep.liveBytesPerMin")
	lcancel()
	log.Printf("the page showed the live frames' payload at the hub as %.0f B/min", shown)
	sleepCtx(ctx, 5*time.Second) // the agent stops at its next cycle
	framesLive := liveFrames.Load()
	after := measure(ctx, s, quiet, "after the live view closed")
	framesAfter := liveFrames.Load() - framesLive
	log.Printf("live frames on the hub: %d before any viewer, %d with the view open, %d after it closed", framesBefore, framesLive-framesBefore, framesAfter)

	pushLat, _ := uibench.Eval[[]float64](watch, "window.__ep.pushLat")
	wcancel()
	log.Printf("push latencies (ms, in order): %v", pushLat)
	log.Printf("live latencies (ms, in order): %v", liveLat)

	// Fleet page with nHosts more hosts, seeded into the stack's Redis.
	st, err := store.Open(ctx, store.Options{Addr: s.Redis.Addr})
	if err != nil {
		return err
	}
	t0 := time.Now()
	if _, err := uibench.SeedFleet(ctx, st, 20, nHosts, 5, time.Now()); err != nil {
		return err
	}
	st.Close()
	log.Printf("seeded %d hosts × 5 windows in %v", nHosts, time.Since(t0).Round(time.Millisecond))
	var renders []float64
	for i := range 3 {
		tab, tcancel := chromedp.NewContext(bctx)
		err := chromedp.Do(tab, chromedp.Navigate(ui+"#/fleet"))
		if err == nil {
			err = uibench.WaitJS(tab, 60*time.Second, "window.__ep.rendered.fleet")
		}
		if err != nil {
			tcancel()
			return fmt.Errorf("fleet page: %w", err)
		}
		ms, _ := uibench.Eval[float64](tab, "window.__ep.rendered.fleet")
		n, _ := uibench.Eval[float64](tab, "window.__ep.rendered.fleetHosts")
		tcancel()
		if int(n) < nHosts {
			return fmt.Errorf("fleet page listed %v hosts, want ≥ %d", n, nHosts)
		}
		log.Printf("fleet page %d: %v hosts rendered %.0f ms after navigation start", i+1, n, ms)
		renders = append(renders, ms)
	}

	log.Printf("load average %s", loadavg())
	log.Printf("push latency over %d windows: p50 %.0f ms, p99 %.0f ms; live latency over %d samples: p50 %.0f ms, p99 %.0f ms",
		len(pushLat), uibench.Percentile(pushLat, 0.5), uibench.Percentile(pushLat, 0.99),
		len(liveLat), uibench.Percentile(liveLat, 0.5), uibench.Percentile(liveLat, 0.99))
	log.Printf("uplink per host-minute: baseline %.0f B, live %.0f B (+%.0f B), after close %.0f B (%+.1f %% of the baseline)",
		baseline, liveBPM, liveBPM-baseline, after, 100*(after-baseline)/baseline)
	fmt.Printf("RESULT push_p99_ms=%.0f live_p99_ms=%.0f live_bytes_per_min=%.0f after_close_bytes_per_min=%.0f fleet_render_ms=%.0f baseline_bytes_per_min=%.0f after_close_live_frames=%d push_p50_ms=%.0f live_p50_ms=%.0f push_samples=%d live_samples=%d\n",
		uibench.Percentile(pushLat, 0.99), uibench.Percentile(liveLat, 0.99), liveBPM, after, uibench.Percentile(renders, 0.5),
		baseline, framesAfter, uibench.Percentile(pushLat, 0.5), uibench.Percentile(liveLat, 0.5), len(pushLat), len(liveLat))
	return nil
}

// measure counts the uplink (proxy, leaf → hub) over span, starting and
// ending 5 s into a 10 s window so every window's frame is counted once.
func measure(ctx context.Context, s *uibench.Stack, span time.Duration, what string) float64 {
	now := time.Now()
	start := now.Truncate(10 * time.Second).Add(15 * time.Second)
	sleepCtx(ctx, start.Sub(now))
	before := s.Proxy.Stats()
	t0 := time.Now()
	sleepCtx(ctx, span)
	d := s.Proxy.Stats().Sub(before)
	bpm := float64(d.Up) / time.Since(t0).Minutes()
	log.Printf("%s: %d B up, %d B down over %v: %.0f B per host-minute up", what, d.Up, d.Down, time.Since(t0).Round(time.Second), bpm)
	if math.IsNaN(bpm) {
		return 0
	}
	return bpm
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// loadavg is /proc/loadavg's first three fields: the latency tails depend
// on what else the host runs.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
