// Command noise is the full noise and injected-fault check for edge
// detection, on real processes.
//
// Phase 1 runs the stack (Redis, aggregator, leaf, agent with the default
// detection config) over this host's /proc for -duration and counts the
// incidents the aggregator republishes on alerts.>. Phase 2 runs a second
// agent over a synthetic /proc tree whose counters move with the wall
// clock like an idle 2-CPU host, then injects a CPU burn and a memory leak
// in turn and reports how many 1 s samples each took from becoming
// visible to the incident's opening. It ends with
//
//	RESULT idle_minutes=<m> idle_incidents=<n> cpu_burn_samples=<n> memory_leak_samples=<n>
//
// Usage: go run ./testbench/noise [-duration 30m] [-procfs /proc]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

type alert struct {
	State  string  `json:"state"`
	Series string  `json:"series"`
	Time   int64   `json:"time_ms"`
	Score  float64 `json:"score"`
	Value  float64 `json:"value"`
	Reason string  `json:"reason"`
}

func main() {
	duration := flag.Duration("duration", 30*time.Minute, "how long the idle phase runs")
	procRoot := flag.String("procfs", "/proc", "procfs root for the idle phase")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *duration, *procRoot); err != nil {
		fmt.Fprintln(os.Stderr, "noise:", err)
		os.Exit(1)
	}
}

// watch subscribes to alerts.> on the hub and collects opened incidents.
func watch(hubURL string) (func() []alert, func(), error) {
	nc, err := nats.Connect(hubURL)
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	var opened []alert
	_, err = nc.Subscribe("alerts.>", func(m *nats.Msg) {
		var a alert
		if json.Unmarshal(m.Data, &a) == nil && a.State == "open" {
			mu.Lock()
			opened = append(opened, a)
			mu.Unlock()
		}
	})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	nc.Flush()
	return func() []alert {
		mu.Lock()
		defer mu.Unlock()
		return append([]alert(nil), opened...)
	}, nc.Close, nil
}

func run(ctx context.Context, duration time.Duration, procRoot string) error {
	dir, err := os.MkdirTemp("", "edgepulse-noise-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Phase 1: idle host.
	idleDir := filepath.Join(dir, "idle")
	os.MkdirAll(idleDir, 0o755)
	st, err := harness.StartStack(ctx, harness.StackOptions{Dir: idleDir, ProcRoot: procRoot, Host: "idle"})
	if err != nil {
		return err
	}
	opened, closeWatch, err := watch(st.HubURL)
	if err != nil {
		st.Stop()
		return err
	}
	fmt.Printf("idle phase: agent on %s for %v\n", procRoot, duration)
	start := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(duration):
	}
	idleMinutes := time.Since(start).Minutes()
	idle := opened()
	closeWatch()
	st.Stop()
	for _, a := range idle {
		fmt.Printf("  incident on %s at %s: value %.2f score %.3f (%s)\n", a.Series, time.UnixMilli(a.Time).UTC().Format(time.TimeOnly), a.Value, a.Score, a.Reason)
	}
	fmt.Printf("idle phase: %d incidents in %.1f minutes\n", len(idle), idleMinutes)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	// Phase 2: injected faults on a synthetic host.
	synDir := filepath.Join(dir, "synthetic")
	root := filepath.Join(synDir, "proc")
	os.MkdirAll(root, 0o755)
	h := &synthHost{root: root, rng: rand.New(rand.NewPCG(1, 2)), t0: time.Now(), memAvail: 5 << 30}
	if err := h.write(time.Now()); err != nil {
		return err
	}
	hctx, hcancel := context.WithCancel(ctx)
	defer hcancel()
	go h.run(hctx)
	st, err = harness.StartStack(ctx, harness.StackOptions{Dir: synDir, ProcRoot: root, Host: "synthetic"})
	if err != nil {
		return err
	}
	defer st.Stop()
	opened, closeWatch, err = watch(st.HubURL)
	if err != nil {
		return err
	}
	defer closeWatch()
	warm := 5 * time.Minute
	if duration < 10*time.Minute {
		warm = duration / 2
	}
	fmt.Printf("synthetic phase: %v of idle warm-up\n", warm)
	sleep(ctx, warm)
	before := len(opened())
	// inject switches a fault on and counts samples from the first one in
	// which it is visible — the first whole second after t0+visible, where
	// visible is when the fault outweighs the host's own noise — to the
	// sample that opened the incident, inclusive.
	inject := func(name, series string, visible time.Duration, on func()) (float64, error) {
		t0 := time.Now()
		on()
		fmt.Printf("injected %s at %s\n", name, t0.UTC().Format(time.TimeOnly))
		deadline := time.Now().Add(3 * time.Minute) // windows must close and ship first
		for time.Now().Before(deadline) && ctx.Err() == nil {
			for _, a := range opened()[before:] {
				if a.Series == series && a.Time >= t0.UnixMilli() {
					first := t0.Add(visible).Truncate(time.Second).Add(time.Second).UnixMilli()
					n := float64(a.Time-first)/1000 + 1
					fmt.Printf("  %s raised %.0f samples after it became visible, %.1f s after injection (%s)\n",
						name, n, float64(a.Time-t0.UnixMilli())/1000, a.Reason)
					return n, nil
				}
			}
			sleep(ctx, 200*time.Millisecond)
		}
		return math.NaN(), fmt.Errorf("%s: no incident on %s within 3 minutes", name, series)
	}
	// A burn shows once it fills half of a 1 s sample's interval.
	burn, err := inject("cpu burn", "cpu_busy_percent", 500*time.Millisecond, func() { h.set(func() { h.burn = true }) })
	if err != nil {
		return err
	}
	h.set(func() { h.burn = false })
	sleep(ctx, 2*time.Minute)
	before = len(opened())
	// A 20 MiB/s leak shows once it has taken more than the 4 MiB jitter of
	// MemAvailable: after 0.2 s.
	leak, err := inject("memory leak", "memory_available_percent", 200*time.Millisecond, func() { h.set(func() { h.leakStart = time.Now() }) })
	if err != nil {
		return err
	}
	fmt.Printf("RESULT idle_minutes=%.1f idle_incidents=%d cpu_burn_samples=%.0f memory_leak_samples=%.0f\n",
		idleMinutes, len(idle), burn, leak)
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// synthHost writes a /proc tree whose counters follow the wall clock: an
// idle 2-CPU host at 2–5 % busy, or 100 % while burning; MemAvailable falls
// by 20 MiB/s once a leak starts.
type synthHost struct {
	root      string
	rng       *rand.Rand
	t0        time.Time
	mu        sync.Mutex
	burn      bool
	leakStart time.Time
	memAvail  float64
	user      float64 // jiffies per cpu
	idle      float64
	last      time.Time
}

func (h *synthHost) set(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f()
}

func (h *synthHost) run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := h.write(now); err != nil {
				fmt.Fprintln(os.Stderr, "synthetic host:", err)
			}
		}
	}
}

func (h *synthHost) write(now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.last.IsZero() {
		dt := now.Sub(h.last).Seconds() * 100 // jiffies
		busy := 0.02 + 0.03*h.rng.Float64()
		if h.burn {
			busy = 1
		}
		h.user += busy * dt
		h.idle += (1 - busy) * dt
	}
	h.last = now
	avail := h.memAvail + float64(h.rng.IntN(4<<20))
	if !h.leakStart.IsZero() {
		avail -= now.Sub(h.leakStart).Seconds() * (20 << 20)
	}
	var stat strings.Builder
	fmt.Fprintf(&stat, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", int64(2*h.user), int64(2*h.idle))
	for c := range 2 {
		fmt.Fprintf(&stat, "cpu%d %d 0 0 %d 0 0 0 0 0 0\n", c, int64(h.user), int64(h.idle))
	}
	fmt.Fprintf(&stat, "intr 0\nctxt 0\nbtime %d\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n", h.t0.Unix())
	mem := fmt.Sprintf("MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\n", (8<<30)/1024, int64(avail)/2048, int64(avail)/1024)
	for name, body := range map[string]string{"stat": stat.String(), "meminfo": mem, "loadavg": "0.10 0.10 0.10 1/100 1\n"} {
		if err := harness.WriteFileAtomic(filepath.Join(h.root, name), []byte(body)); err != nil {
			return err
		}
	}
	return nil
}
