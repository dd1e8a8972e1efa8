package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/edgepulse/edgepulse/codec"
)

// shape is how one simulated series moves from window to window.
type shape uint8

const (
	constant shape = iota // never changes (MemTotal, filesystem size, static info)
	drift                 // a slow random walk with little in-window noise (memory, free space)
	diurnal               // follows the host's daily load with in-window noise (load, temperatures)
	intGauge              // small integers (procs running, tcp sockets in use)
	busyCtr               // a counter growing at a diurnal rate (cpu seconds, busy NIC/disk bytes)
	rareCtr               // a counter that moves in a few windows only (errors, retransmits)
	idleCtr               // a counter that never moves (idle devices, most vmstat/netstat fields)
)

// seriesDef is one series of a simulated host: its node_exporter-like
// name, labels and shape.
type seriesDef struct {
	name   string
	labels []string
	shape  shape
	scale  float64 // level or rate scale
}

// hostSeries lays out n series the way a node_exporter host spreads
// them: per-CPU counters, memory gauges, disks and NICs of which some are
// idle, filesystems, and a long tail of vmstat/netstat counters that
// mostly stand still. The mix is about 25 % constants, 35 % idle
// counters, 10 % rare counters, 15 % busy counters and 15 % moving
// gauges, like the backhaul synth's hosts (testbench/backhaul/synth.go).
func hostSeries(n int) []seriesDef {
	var out []seriesDef
	add := func(name string, sh shape, scale float64, labels ...string) {
		if len(out) < n {
			out = append(out, seriesDef{name: name, labels: labels, shape: sh, scale: scale})
		}
	}
	add("node_load1", diurnal, 2)
	add("node_load5", diurnal, 2)
	add("node_load15", diurnal, 2)
	add("node_procs_running", intGauge, 4)
	add("node_procs_blocked", intGauge, 1)
	add("node_context_switches_total", busyCtr, 5000)
	add("node_forks_total", busyCtr, 20)
	add("node_intr_total", busyCtr, 3000)
	modes := []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
	for cpu := range 4 {
		for _, m := range modes {
			sh, sc := busyCtr, 0.3
			switch m {
			case "nice", "irq", "steal":
				sh = idleCtr
			case "iowait", "softirq":
				sh, sc = rareCtr, 0.01
			case "idle":
				sc = 0.7
			}
			add("node_cpu_seconds_total", sh, sc, "cpu", strconv.Itoa(cpu), "mode", m)
		}
	}
	for i, f := range []string{"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapCached", "Active", "Inactive",
		"Active_anon", "Inactive_anon", "Active_file", "Inactive_file", "Unevictable", "Mlocked", "SwapTotal", "SwapFree",
		"Dirty", "Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable", "SUnreclaim",
		"KernelStack", "PageTables", "CommitLimit", "Committed_AS", "VmallocTotal", "VmallocUsed", "HugePages_Total",
		"HugePages_Free", "Hugepagesize", "DirectMap4k", "DirectMap2M"} {
		sh := drift
		switch f {
		case "MemTotal", "SwapTotal", "CommitLimit", "VmallocTotal", "HugePages_Total", "HugePages_Free", "Hugepagesize",
			"DirectMap4k", "DirectMap2M", "SwapFree", "SwapCached", "Unevictable", "Mlocked":
			sh = constant
		}
		add("node_memory_"+f+"_bytes", sh, float64(uint64(1)<<(20+i%14)))
	}
	for _, d := range []string{"nvme0n1", "sda", "sdb"} {
		for _, f := range []string{"reads_completed", "writes_completed", "read_bytes", "written_bytes",
			"io_time_seconds", "read_time_seconds", "write_time_seconds", "discards_completed"} {
			sh, sc := busyCtr, 50.0
			if d == "sdb" || f == "discards_completed" {
				sh = idleCtr
			}
			if f == "read_bytes" || f == "written_bytes" {
				sc = 2e6
			}
			add("node_disk_"+f+"_total", sh, sc, "device", d)
		}
	}
	for _, d := range []string{"eth0", "eth1", "lo", "docker0"} {
		for _, f := range []string{"receive_bytes", "transmit_bytes", "receive_packets", "transmit_packets",
			"receive_errs", "transmit_errs", "receive_drop", "transmit_drop"} {
			sh, sc := busyCtr, 1e5
			switch {
			case d == "eth1" || d == "docker0":
				sh = idleCtr
			case f[len(f)-4:] == "errs" || f[len(f)-4:] == "drop":
				sh, sc = rareCtr, 0.05
			case f[len(f)-7:] == "packets":
				sc = 200
			}
			add("node_network_"+f+"_total", sh, sc, "device", d)
		}
	}
	for _, m := range []string{"/", "/boot", "/var", "/data", "/run"} {
		add("node_filesystem_size_bytes", constant, 5e10, "mountpoint", m)
		add("node_filesystem_free_bytes", drift, 2e10, "mountpoint", m)
		add("node_filesystem_avail_bytes", drift, 1.8e10, "mountpoint", m)
		add("node_filesystem_files", constant, 3e6, "mountpoint", m)
		add("node_filesystem_files_free", drift, 2e6, "mountpoint", m)
	}
	for i := range 4 {
		add("node_hwmon_temp_celsius", diurnal, 45, "chip", "coretemp", "sensor", "temp"+strconv.Itoa(i+1))
	}
	add("node_sockstat_TCP_inuse", intGauge, 40)
	add("node_sockstat_TCP_tw", intGauge, 20)
	add("node_filefd_allocated", intGauge, 3000)
	add("node_entropy_available_bits", constant, 256)
	add("node_boot_time_seconds", constant, 1.7e9)
	// The long tail: vmstat, netstat and snmp counters, mostly still.
	for i := 0; len(out) < n; i++ {
		var sh shape
		switch i % 20 {
		case 0, 1, 2:
			sh = busyCtr
		case 3, 4, 5:
			sh = rareCtr
		case 6, 7, 8, 9:
			sh = constant
		default:
			sh = idleCtr
		}
		prefix := "node_vmstat_"
		if i%2 == 1 {
			prefix = "node_netstat_"
		}
		add(fmt.Sprintf("%sfield%d", prefix, i), sh, 10)
	}
	return out
}

// simHost produces one host's windows: codec.Batch values as the agent's
// rollup would close them (60 one-second samples per window), in order.
type simHost struct {
	site, host string
	defs       []seriesDef
	rng        *rand.Rand
	phase      float64 // diurnal phase, 0–1
	busy       float64 // 0.2–1
	level      []float64
	raw        []float64 // counters' raw values
}

func newSimHost(site, host string, index int, defs []seriesDef) *simHost {
	rng := rand.New(rand.NewPCG(uint64(index)+1, 0x9e3779b97f4a7c15))
	h := &simHost{site: site, host: host, defs: defs, rng: rng, phase: rng.Float64(), busy: 0.2 + 0.8*rng.Float64(),
		level: make([]float64, len(defs)), raw: make([]float64, len(defs))}
	for i, d := range defs {
		h.level[i] = d.scale * (0.5 + rng.Float64())
		if d.shape == constant {
			h.level[i] = math.Round(h.level[i])
		}
		h.raw[i] = math.Round(d.scale * 1e4 * rng.Float64())
	}
	return h
}

// batch is window w (starting at start, Unix ms) with sequence seq.
func (h *simHost) batch(seq uint64, start int64) *codec.Batch {
	b := &codec.Batch{Agent: h.site + "/" + h.host, Site: h.site, Host: h.host, Seq: seq, Start: start, Width: 60_000,
		Series: make([]codec.Series, len(h.defs)), Rollups: make([]codec.Rollup, len(h.defs))}
	day := float64(start%86_400_000) / 86_400_000
	load := h.busy * (0.55 + 0.45*math.Sin(2*math.Pi*(day+h.phase)))
	for i, d := range h.defs {
		kind := codec.Gauge
		if d.shape >= busyCtr {
			kind = codec.Counter
		}
		b.Series[i] = codec.Series{ID: uint32(i), Name: d.name, Kind: kind, Labels: d.labels}
		b.Rollups[i] = h.rollup(i, d, load)
	}
	return b
}

// rollup draws one window of 60 samples' statistics for series i.
func (h *simHost) rollup(i int, d seriesDef, load float64) codec.Rollup {
	r := codec.Rollup{ID: uint32(i), Count: 60}
	rng := h.rng
	gauge := func(mean, sd float64, round bool) {
		v := func(z float64) float64 {
			x := mean + z*sd
			if round {
				x = math.Max(0, math.Round(x))
			}
			return x
		}
		r.Sum = mean * 60
		if round {
			r.Sum = math.Round(r.Sum)
		}
		r.Min, r.Max = v(-2-rng.Float64()), v(2+rng.Float64())
		r.First, r.Last = v(rng.NormFloat64()), v(rng.NormFloat64())
		r.Quantiles = []float64{v(0), v(1.28), v(2.33)}
	}
	switch d.shape {
	case constant:
		v := h.level[i]
		r.Sum, r.Min, r.Max, r.First, r.Last = 60*v, v, v, v, v
		r.Quantiles = []float64{v, v, v}
	case drift:
		h.level[i] = math.Max(0, h.level[i]*(1+0.002*rng.NormFloat64()))
		gauge(math.Round(h.level[i]/4096)*4096, h.level[i]*0.0005, false)
	case diurnal:
		gauge(h.level[i]*(0.3+load), h.level[i]*0.05, false)
	case intGauge:
		gauge(h.level[i]*(0.3+load), math.Sqrt(h.level[i]), true)
	case busyCtr, rareCtr, idleCtr:
		var rate float64
		switch d.shape {
		case busyCtr:
			rate = h.level[i] * (0.2 + load) * (1 + 0.1*rng.NormFloat64())
		case rareCtr:
			if rng.Float64() < 0.05 {
				rate = math.Ceil(rng.ExpFloat64()*3) / 60
			}
		}
		rate = math.Max(0, rate)
		inc := math.Round(rate * 60)
		h.raw[i] += inc
		mean := inc / 60
		if inc == 0 {
			r.Quantiles = []float64{0, 0, 0}
		} else {
			sd := math.Sqrt(mean) // per-second increments are integers
			q := func(z float64) float64 { return math.Max(0, math.Round(mean+z*sd)) }
			r.Sum, r.Min, r.Max = inc, q(-2-rng.Float64()), q(2+rng.Float64())
			r.First = q(rng.NormFloat64())
			r.Quantiles = []float64{q(0), q(1.28), q(2.33)}
		}
		r.Last = h.raw[i] // a counter's Last is its raw value
	}
	return r
}
