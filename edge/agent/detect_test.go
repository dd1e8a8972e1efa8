package agent

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/collect"
)

// host simulates an idle 2-CPU host sample by sample, with faults that can
// be switched on.
type host struct {
	rng                *rand.Rand
	idle, user         [2]float64
	memTotal, memAvail float64
	fsSize, fsAvail    float64
	burn               bool
	leakPerS, fillPerS float64
}

func newHost(seed uint64) *host {
	return &host{rng: rand.New(rand.NewPCG(seed, 1)), memTotal: 8 << 30, memAvail: 5 << 30, fsSize: 100 << 30, fsAvail: 60 << 30}
}

func (h *host) cycle(e *collect.Emitter, ts int64) {
	e.Reset(ts)
	for c := range 2 {
		busy := 0.02 + 0.03*h.rng.Float64() // 2–5 % busy, idle machine
		if h.rng.Float64() < 0.01 {
			busy = 0.3 // an occasional short cron job
		}
		if h.burn {
			busy = 1
		}
		h.user[c] += busy
		h.idle[c] += 1 - busy
		cpu := []string{"0", "1"}[c]
		e.Counter("node_cpu_seconds_total", h.user[c], "cpu", cpu, "mode", "user")
		e.Counter("node_cpu_seconds_total", h.idle[c], "cpu", cpu, "mode", "idle")
	}
	h.memAvail -= h.leakPerS
	h.fsAvail -= h.fillPerS
	e.Gauge("node_memory_MemTotal_bytes", h.memTotal)
	e.Gauge("node_memory_MemAvailable_bytes", h.memAvail+float64(h.rng.IntN(4<<20)))
	e.Gauge("node_load1", 0.1+0.2*h.rng.Float64())
	e.Gauge("node_filesystem_size_bytes", h.fsSize, "mountpoint", "/")
	e.Gauge("node_filesystem_avail_bytes", h.fsAvail+float64(h.rng.IntN(1<<20)), "mountpoint", "/")
}

type run struct {
	t    *testing.T
	seed uint64
	h    *host
	e    *collect.Emitter
	d    *Detector
	ts   int64
	evs  []codec.Event
}

func newRun(t *testing.T, seed uint64) *run {
	reg := collect.NewRegistry(0)
	d, err := NewDetector(DetectConfig{}, reg, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &run{t: t, seed: seed, h: newHost(seed), e: collect.NewEmitter(reg), d: d, ts: 1_700_000_000_000}
}

func (r *run) step() {
	r.ts += 1000
	r.h.cycle(r.e, r.ts)
	for _, s := range r.e.Samples() {
		r.d.Observe(s.Series, s.TS, s.Value)
	}
	r.d.EndCycle()
	r.evs = append(r.evs, r.d.TakeEvents()...)
}

// untilOpened steps until an incident opens on signal, at most limit
// samples, and returns how many samples that took.
func (r *run) untilOpened(signal string, limit int) int {
	opened, _ := r.d.Incidents()
	for i := 1; i <= limit; i++ {
		r.step()
		if o, _ := r.d.Incidents(); o > opened {
			sig := r.d.lastOpened
			if sig != signal {
				r.t.Fatalf("incident opened on %s, want %s", sig, signal)
			}
			return i
		}
	}
	s := r.d.signals[signal]
	r.t.Fatalf("seed %d: no incident on %s within %d samples (active %v, score %.3f, scores %+v)",
		r.seed, signal, limit, s.inc.Active(), incidentScore(&s.det), s.det.Scores())
	return 0
}

// TestNoiseAndInjectedFaults is the short version of the noise check: 30
// simulated minutes of an idle host open at most one incident, and a CPU
// burn, a memory leak and a filling filesystem each open one within 3
// samples of becoming visible.
func TestNoiseAndInjectedFaults(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		r := newRun(t, seed)
		for range 1800 {
			r.step()
		}
		if o, _ := r.d.Incidents(); o > 1 {
			for _, e := range r.evs {
				t.Logf("%v incident %d on %s at %d score %.3f value %.2f reason %s", e.Kind, e.Incident, e.Series, e.TS, e.Score, e.Value, e.Reason)
			}
			t.Fatalf("seed %d: idle host opened %d incidents in 30 min", seed, o)
		}

		// CPU burn: visible from the first sample at 100 %.
		r.h.burn = true
		if n := r.untilOpened(SignalCPUBusy, 3); n > 3 {
			t.Fatalf("seed %d: cpu burn raised after %d samples", seed, n)
		}
		r.h.burn = false
		for range 120 {
			r.step()
		}

		// Memory leak of 20 MiB/s: visible once it has eaten more than the
		// 4 MiB sample jitter — from the first sample.
		r.h.leakPerS = 20 << 20
		if n := r.untilOpened(SignalMemAvail, 3); n > 3 {
			t.Fatalf("seed %d: memory leak raised after %d samples", seed, n)
		}
		r.h.leakPerS = 0
		for range 120 {
			r.step()
		}

		// Filesystem filling at 50 MiB/s against 1 MiB of jitter.
		r.h.fillPerS = 50 << 20
		if n := r.untilOpened(SignalFSUsed, 3); n > 3 {
			t.Fatalf("seed %d: filesystem fill raised after %d samples", seed, n)
		}
	}
}
