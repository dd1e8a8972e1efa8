package backhaul

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// Templates are the shapes of this kernel's procfs files that the
// synthetic hosts reuse, so their field sets (vmstat, meminfo, netstat,
// snmp, snmp6) are those of a real Linux host: the field names and the
// starting values of the real /proc (or of the collector fixture when a
// file is missing).
type Templates struct {
	Vmstat  []field
	Meminfo []field
	Netstat []table // net/netstat
	SNMP    []table // net/snmp
	SNMP6   []field
	Mounts  []byte
}

type field struct {
	name string
	v    float64
}

// table is one pair of header/value lines of net/netstat or net/snmp.
type table struct {
	proto string
	names []string
	vals  []float64
}

// LoadTemplates reads the templates from procRoot (normally /proc),
// falling back to fallbackRoot for files procRoot lacks.
func LoadTemplates(procRoot, fallbackRoot string) (*Templates, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(procRoot, name))
		if err != nil || len(b) == 0 {
			b, err = os.ReadFile(filepath.Join(fallbackRoot, name))
		}
		if err != nil {
			return nil, fmt.Errorf("backhaul: template %s: %w", name, err)
		}
		return b, nil
	}
	t := &Templates{}
	b, err := read("vmstat")
	if err != nil {
		return nil, err
	}
	t.Vmstat = parseFields(b, " ")
	if b, err = read("meminfo"); err != nil {
		return nil, err
	}
	for _, f := range parseFields(b, ":") {
		t.Meminfo = append(t.Meminfo, f)
	}
	if b, err = read("net/netstat"); err != nil {
		return nil, err
	}
	t.Netstat = parseTables(b)
	if b, err = read("net/snmp"); err != nil {
		return nil, err
	}
	t.SNMP = parseTables(b)
	if b, err = read("net/snmp6"); err != nil {
		return nil, err
	}
	t.SNMP6 = parseFields(b, "")
	if t.Mounts, err = read("self/mounts"); err != nil {
		if t.Mounts, err = read("mounts"); err != nil {
			return nil, err
		}
	}
	if len(t.Vmstat) == 0 || len(t.Meminfo) == 0 || len(t.Netstat) == 0 || len(t.SNMP) == 0 {
		return nil, fmt.Errorf("backhaul: templates: empty vmstat (%d), meminfo (%d), netstat (%d) or snmp (%d)",
			len(t.Vmstat), len(t.Meminfo), len(t.Netstat), len(t.SNMP))
	}
	return t, nil
}

// parseFields reads "name<sep> value [kB]" lines (sep "" splits on
// whitespace).
func parseFields(b []byte, sep string) []field {
	var out []field
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		var name, rest string
		var ok bool
		if sep == ":" {
			name, rest, ok = strings.Cut(line, ":")
		} else {
			f := strings.Fields(line)
			if len(f) >= 2 {
				name, rest, ok = f[0], f[1], true
			}
		}
		if !ok {
			continue
		}
		vs := strings.Fields(rest)
		if len(vs) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(vs[0], 64)
		if err != nil {
			continue
		}
		out = append(out, field{strings.TrimSpace(name), v})
	}
	return out
}

func parseTables(b []byte) []table {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var out []table
	for i := 0; i+1 < len(lines); i += 2 {
		h, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(h) < 2 || len(h) != len(v) || h[0] != v[0] {
			continue
		}
		t := table{proto: strings.TrimSuffix(h[0], ":"), names: h[1:]}
		for _, s := range v[1:] {
			f, _ := strconv.ParseFloat(s, 64)
			t.vals = append(t.vals, f)
		}
		out = append(out, t)
	}
	return out
}

// Host is one synthetic host: a small model of load, memory, disks,
// interfaces and processes, written once per second as a procfs tree
// (<Dir>/proc) and a sysfs tree (<Dir>/sys) that the collectors read.
//
// Dynamics: a diurnal-ish load (one sine period over the run, phase per
// host), random bursts of 5–40 s, per-CPU imbalance, memory drifting (a
// slow leak on some hosts, page cache growing and being dropped), a busy
// NIC and disk whose counters grow at varying rates next to idle ones
// whose counters never move, a few dozen processes changing state, and
// temperatures following the load. Most vmstat and netstat counters stay
// still, as on a real host.
type Host struct {
	Dir   string // the tree: Dir/proc and Dir/sys
	Proc  string // Dir/proc
	index int
	rng   *rand.Rand
	t     *Templates
	start time.Time
	run   time.Duration // one load period

	ncpu   int
	scale  float64 // how busy this host gets, 0.2–1
	phase  float64 // diurnal phase, 0–1
	vm     bool    // reports steal
	leak   float64 // anon kB per second
	nvme   bool
	btime  int64
	tick   int
	burst  float64
	burstN int

	cpu                  [][8]float64 // user nice system idle iowait irq softirq steal
	imbalance            []float64
	intr, ctxt, forks    float64
	load1, load5, load15 float64
	running, blocked     int

	memTotal, anon, cache, buffers, slab, dirty float64
	memTmpl                                     map[string]float64
	vmstat                                      []float64
	vmIndex                                     map[string]int

	pressure [3][2]float64 // cpu, io, memory × some, full (µs)

	disks []*disk
	nics  []*nic

	netstat, snmp []table
	snmp6         []float64
	snmp6Index    map[string]int

	tcpInuse, tcpTW, files float64

	procs   []*proc
	nextPID int
	temps   []float64
}

type disk struct {
	name   string
	major  int
	minor  int
	busy   float64 // 0: idle, counters never move
	c      [17]float64
	ioNow  float64
	listed bool // reported (not a partition or loop device)
}

type nic struct {
	name string
	busy float64 // bytes per second at full load; 0: idle
	c    [16]float64
}

type proc struct {
	pid     int
	comm    string
	state   byte
	threads int
	short   bool // exits after a while
	ttl     int
}

// NewHost builds host number index under dir with a model seeded by seed;
// run is the length of one load period (the run's duration). It writes
// the static files and the first values of the others.
func NewHost(dir string, index int, seed uint64, run time.Duration, t *Templates, now time.Time) (*Host, error) {
	rng := rand.New(rand.NewPCG(seed, uint64(index)*0x9e3779b97f4a7c15+1))
	h := &Host{
		Dir: dir, Proc: filepath.Join(dir, "proc"), index: index, rng: rng, t: t, start: now, run: run,
		ncpu:  []int{2, 4, 4, 8}[rng.IntN(4)],
		scale: 0.2 + 0.8*rng.Float64(),
		phase: rng.Float64(),
		vm:    rng.IntN(2) == 0,
		nvme:  rng.IntN(2) == 0,
		btime: now.Unix() - int64(3600*(24+rng.IntN(24*60))),
	}
	if rng.IntN(3) == 0 {
		h.leak = 20 + 200*rng.Float64()
	}
	h.cpu = make([][8]float64, h.ncpu)
	h.imbalance = make([]float64, h.ncpu)
	up := float64(now.Unix() - h.btime)
	for i := range h.cpu {
		h.imbalance[i] = 0.7 + 0.6*rng.Float64()
		h.cpu[i] = [8]float64{up * 100 * 0.15, up * 0.2, up * 100 * 0.05, up * 100 * 0.78, up * 100 * 0.01, 0, up * 100 * 0.005, 0}
		if h.vm {
			h.cpu[i][7] = up * 100 * 0.002
		}
	}
	h.intr, h.ctxt, h.forks = up*300*float64(h.ncpu), up*1500*float64(h.ncpu), up*2
	h.memTotal = float64([]int{4, 8, 16, 32}[rng.IntN(4)]) * 1024 * 1024
	h.anon = h.memTotal * (0.15 + 0.25*rng.Float64())
	h.cache = h.memTotal * (0.2 + 0.3*rng.Float64())
	h.buffers = h.memTotal * 0.01
	h.slab = h.memTotal * 0.03
	h.memTmpl = map[string]float64{}
	for _, f := range t.Meminfo {
		h.memTmpl[f.name] = f.v
	}
	h.vmstat = make([]float64, len(t.Vmstat))
	h.vmIndex = map[string]int{}
	for i, f := range t.Vmstat {
		h.vmstat[i] = f.v
		h.vmIndex[f.name] = i
	}
	h.disks = []*disk{
		{name: "sda", major: 8, minor: 0, busy: 0.5 + rng.Float64(), listed: true},
		{name: "sda1", major: 8, minor: 1, busy: 0.5},
		{name: "sdb", major: 8, minor: 16, busy: 0, listed: true}, // idle: counters never move
		{name: "loop0", major: 7, minor: 0},
	}
	if h.nvme {
		h.disks = append(h.disks, &disk{name: "nvme0n1", major: 259, minor: 0, busy: 1 + 2*rng.Float64(), listed: true})
	}
	for _, d := range h.disks {
		if d.name == "loop0" {
			continue
		}
		base := up * (0.5 + rng.Float64())
		d.c = [17]float64{base * 2, base * 0.3, base * 100, base * 3, base * 5, base * 2, base * 120, base * 8, 0, base * 4, base * 12}
	}
	h.nics = []*nic{
		{name: "lo", busy: 20e3},
		{name: "eth0", busy: 2e6 + 8e6*rng.Float64()},
		{name: "eth1", busy: 0},
		{name: "docker0", busy: 0},
	}
	for _, n := range h.nics {
		if n.name == "docker0" {
			continue // never up: every counter 0
		}
		rate := n.busy
		if rate == 0 {
			rate = 500
		}
		n.c[0], n.c[1] = up*rate*0.2, up*rate*0.2/800
		n.c[8], n.c[9] = up*rate*0.1, up*rate*0.1/600
		n.c[7] = up * 0.01
	}
	h.netstat = cloneTables(t.Netstat)
	h.snmp = cloneTables(t.SNMP)
	h.snmp6 = make([]float64, len(t.SNMP6))
	h.snmp6Index = map[string]int{}
	for i, f := range t.SNMP6 {
		h.snmp6[i] = f.v
		h.snmp6Index[f.name] = i
	}
	h.tcpInuse, h.tcpTW, h.files = 20+40*rng.Float64(), 10, 1500+1000*rng.Float64()
	h.temps = make([]float64, 1+h.ncpu)
	h.nextPID = 1
	comms := []string{"systemd", "kthreadd", "rcu_sched", "sshd", "cron", "rsyslogd", "dbus-daemon", "nginx", "postgres", "java",
		"containerd", "dockerd", "node_exporter", "chronyd", "agetty", "systemd-journal", "systemd-udevd", "python3", "redis-server", "haproxy"}
	n := 30 + rng.IntN(40)
	for i := 0; i < n; i++ {
		p := &proc{pid: h.nextPID, comm: comms[i%len(comms)], state: 'S', threads: 1 + rng.IntN(4)}
		if i%7 == 2 {
			p.state, p.comm = 'I', fmt.Sprintf("kworker/%d:%d", i%h.ncpu, i)
		}
		if p.comm == "java" || p.comm == "postgres" || p.comm == "containerd" {
			p.threads = 10 + rng.IntN(60)
		}
		h.procs = append(h.procs, p)
		h.nextPID += 1 + rng.IntN(50)
	}
	if err := h.writeStatic(); err != nil {
		return nil, err
	}
	for _, p := range h.procs {
		if err := h.writeProc(p); err != nil {
			return nil, err
		}
	}
	return h, h.Step(now)
}

func cloneTables(ts []table) []table {
	out := make([]table, len(ts))
	for i, t := range ts {
		out[i] = table{proto: t.proto, names: t.names, vals: append([]float64(nil), t.vals...)}
	}
	return out
}

func (h *Host) path(name string) string { return filepath.Join(h.Proc, name) }

func (h *Host) writeStatic() error {
	for _, d := range []string{"net", "pressure", "sys/fs", "sys/kernel"} {
		if err := os.MkdirAll(h.path(d), 0o755); err != nil {
			return err
		}
	}
	static := map[string]string{
		"mounts":                 string(h.t.Mounts),
		"sys/kernel/pid_max":     "4194304\n",
		"sys/kernel/threads-max": fmt.Sprintf("%d\n", int(h.memTotal/128)),
		"net/sockstat6":          "TCP6: inuse 4\nUDP6: inuse 2\nUDPLITE6: inuse 0\nRAW6: inuse 1\nFRAG6: inuse 0 memory 0\n",
	}
	for name, s := range static {
		if err := harness.WriteFileAtomic(h.path(name), []byte(s)); err != nil {
			return err
		}
	}
	hw := filepath.Join(h.Dir, "sys", "class", "hwmon", "hwmon0")
	if err := os.MkdirAll(hw, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(hw, "name"), []byte("coretemp\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(hw, "temp1_crit"), []byte("100000\n"), 0o644); err != nil {
		return err
	}
	return nil
}

// util is the host's CPU utilisation at elapsed time e, in [0.01, 0.98]:
// the diurnal sine, the current burst and noise.
func (h *Host) util(e time.Duration) float64 {
	x := e.Seconds()/h.run.Seconds() + h.phase
	d := 0.5 - 0.45*math.Cos(2*math.Pi*x)
	u := d*h.scale + h.burst + 0.04*h.rng.NormFloat64()
	return min(0.98, max(0.01, u))
}

// Step advances the model by one second to now and rewrites every file
// that changed, each atomically.
func (h *Host) Step(now time.Time) error {
	h.tick++
	r := h.rng
	if h.burstN > 0 {
		h.burstN--
		if h.burstN == 0 {
			h.burst = 0
		}
	} else if r.IntN(120) == 0 {
		h.burstN, h.burst = 5+r.IntN(36), 0.3+0.6*r.Float64()
	}
	u := h.util(now.Sub(h.start))
	io := min(1, u*(0.5+r.Float64()))
	nc := float64(h.ncpu)

	// CPU, in USER_HZ (100 per CPU-second).
	for i := range h.cpu {
		ui := min(0.99, max(0.005, u*h.imbalance[i]+0.03*r.NormFloat64()))
		c := &h.cpu[i]
		user, sys, wait := 100*ui*0.7, 100*ui*0.22, 100*io*0.03
		irq, soft, steal, nice := 100*ui*0.005, 100*ui*0.03, 0.0, 0.0
		if h.vm {
			steal = 100 * ui * 0.01 * r.Float64()
		}
		if h.index%3 == 0 {
			nice = 100 * ui * 0.02
		}
		idle := max(0, 100-user-sys-wait-irq-soft-steal-nice)
		for k, v := range [8]float64{user, nice, sys, idle, wait, irq, soft, steal} {
			c[k] += v
		}
	}
	h.intr += 150*nc + 4000*u*nc + 50*r.Float64()
	h.ctxt += 400*nc + 15000*u*nc + 200*r.Float64()
	h.forks += float64(r.IntN(3)) + float64(r.IntN(int(1+20*u)))
	runnable := u*nc + 0.3*r.NormFloat64()
	h.running = max(1, int(math.Round(runnable)))
	h.blocked = 0
	if io > 0.6 && r.IntN(3) == 0 {
		h.blocked = 1 + r.IntN(3)
	}
	ex := func(tau float64) float64 { return math.Exp(-1 / tau) }
	inst := max(0, runnable) + float64(h.blocked)
	h.load1 = h.load1*ex(60) + inst*(1-ex(60))
	h.load5 = h.load5*ex(300) + inst*(1-ex(300))
	h.load15 = h.load15*ex(900) + inst*(1-ex(900))
	if h.tick == 1 {
		h.load1, h.load5, h.load15 = inst, inst*0.9, inst*0.8
	}

	// Memory (kB): anon follows load and leaks, page cache grows with I/O
	// and is dropped now and then, dirty pages come and go with writes.
	h.anon += h.leak + (u-0.5)*h.memTotal*0.0005 + h.memTotal*0.0002*r.NormFloat64()
	h.anon = min(max(h.anon, h.memTotal*0.05), h.memTotal*0.7)
	h.cache += io * 2000 * (1 + r.Float64())
	if r.IntN(600) == 0 || h.cache > h.memTotal*0.6 {
		h.cache *= 0.6
	}
	h.slab += 2 * r.NormFloat64()
	h.dirty = max(0, h.dirty*0.8+io*3000*r.Float64())
	free := h.memTotal - h.anon - h.cache - h.buffers - h.slab
	swapIn, swapOut := 0.0, 0.0
	if free < h.memTotal*0.05 {
		swapOut = 50 + 500*r.Float64()
		h.pressure[2][0] += 20000 * r.Float64()
		h.pressure[2][1] += 5000 * r.Float64()
	}

	// Pressure stall totals (µs): CPU when busy, I/O with the disks.
	h.pressure[0][0] += 1e6 * max(0, u-0.6) * r.Float64()
	h.pressure[1][0] += 1e6 * 0.05 * io * r.Float64()
	h.pressure[1][1] += 1e6 * 0.02 * io * r.Float64()

	// Disks: reads, merges, sectors, ms for reads and writes; in flight,
	// busy ms, weighted ms; discards; flushes.
	var sectorsIn, sectorsOut float64
	for _, d := range h.disks {
		if d.busy == 0 {
			continue
		}
		rd := d.busy * (2 + 150*io*r.Float64())
		wr := d.busy * (5 + 200*io*r.Float64())
		rs := rd * (8 + float64(r.IntN(120)))
		ws := wr * (8 + float64(r.IntN(60)))
		rms, wms := rd*(0.2+2*r.Float64()), wr*(0.3+3*r.Float64())
		d.ioNow = math.Round(io * d.busy * 3 * r.Float64())
		busy := min(1000, rms+wms)
		add := [17]float64{rd, rd * 0.1 * r.Float64(), rs, rms, wr, wr * 0.3 * r.Float64(), ws, wms, 0, busy, rms + wms, 0, 0, 0, 0, wr / 20, wr / 20 * 0.1}
		if r.IntN(60) == 0 { // fstrim now and then
			add[11], add[13], add[14] = 1, float64(2048*r.IntN(100)), 2
		}
		for k, v := range add {
			d.c[k] += v
		}
		d.c[8] = d.ioNow
		if d.listed {
			sectorsIn += rs
			sectorsOut += ws
		}
	}

	// Interfaces: bytes at the interface's rate × load, packets from a
	// varying mean size, a rare error or drop on the busy one.
	var netIn, netOut, pktIn, pktOut float64
	for _, n := range h.nics {
		if n.busy == 0 {
			continue
		}
		rx := n.busy * (0.05 + u) * (0.5 + r.Float64())
		tx := n.busy * 0.4 * (0.05 + u) * (0.5 + r.Float64())
		prx, ptx := rx/(200+1200*r.Float64()), tx/(100+1300*r.Float64())
		n.c[0] += math.Round(rx)
		n.c[1] += math.Round(prx)
		n.c[8] += math.Round(tx)
		n.c[9] += math.Round(ptx)
		if n.name != "lo" {
			if r.IntN(300) == 0 {
				n.c[2]++ // rx errs
			}
			if r.IntN(120) == 0 {
				n.c[3] += float64(1 + r.IntN(5)) // rx drop
			}
			if r.IntN(40) == 0 {
				n.c[7]++ // multicast
			}
			netIn, netOut, pktIn, pktOut = netIn+rx, netOut+tx, pktIn+prx, pktOut+ptx
		}
	}

	// Protocol counters follow the traffic; most fields never move.
	opens := float64(r.IntN(1 + int(10*u)))
	bump := func(ts []table, proto, name string, v float64) {
		for i := range ts {
			if ts[i].proto != proto {
				continue
			}
			for k, n := range ts[i].names {
				if n == name {
					ts[i].vals[k] += math.Round(v)
					return
				}
			}
		}
	}
	set := func(ts []table, proto, name string, v float64) {
		for i := range ts {
			if ts[i].proto != proto {
				continue
			}
			for k, n := range ts[i].names {
				if n == name {
					ts[i].vals[k] = math.Round(v)
					return
				}
			}
		}
	}
	bump(h.netstat, "IpExt", "InOctets", netIn)
	bump(h.netstat, "IpExt", "OutOctets", netOut)
	bump(h.netstat, "TcpExt", "DelayedACKs", pktIn*0.05)
	bump(h.netstat, "TcpExt", "TCPHPHits", pktIn*0.3)
	bump(h.netstat, "TcpExt", "TCPPureAcks", pktIn*0.1)
	bump(h.netstat, "TcpExt", "TCPOrigDataSent", pktOut*0.9)
	if r.IntN(30) == 0 {
		bump(h.netstat, "TcpExt", "TCPOFOQueue", 1)
	}
	if r.IntN(90) == 0 {
		bump(h.netstat, "TcpExt", "TCPTimeouts", 1)
		bump(h.netstat, "TcpExt", "TCPSynRetrans", 1)
	}
	bump(h.snmp, "Ip", "InReceives", pktIn)
	bump(h.snmp, "Ip", "InDelivers", pktIn)
	bump(h.snmp, "Ip", "OutRequests", pktOut)
	bump(h.snmp, "Ip", "OutTransmits", pktOut)
	bump(h.snmp, "Tcp", "InSegs", pktIn*0.95)
	bump(h.snmp, "Tcp", "OutSegs", pktOut*0.95)
	bump(h.snmp, "Tcp", "ActiveOpens", opens)
	bump(h.snmp, "Tcp", "PassiveOpens", opens*0.7)
	if r.IntN(20) == 0 {
		bump(h.snmp, "Tcp", "RetransSegs", float64(1+r.IntN(4)))
		bump(h.snmp, "Tcp", "OutRsts", 1)
	}
	h.tcpInuse = max(5, h.tcpInuse+opens*0.3-0.2*(h.tcpInuse-20-40*u))
	h.tcpTW = max(0, h.tcpTW*0.95+opens*0.5)
	set(h.snmp, "Tcp", "CurrEstab", h.tcpInuse*0.8)
	bump(h.snmp, "Udp", "InDatagrams", pktIn*0.04)
	bump(h.snmp, "Udp", "OutDatagrams", pktOut*0.04)
	if r.IntN(60) == 0 {
		bump(h.snmp, "Udp", "NoPorts", 1)
		bump(h.snmp, "Icmp", "OutMsgs", 1)
		bump(h.snmp, "Icmp", "InMsgs", 1)
	}
	for name, v := range map[string]float64{"Ip6InOctets": netIn * 0.02, "Ip6OutOctets": netOut * 0.02,
		"Ip6InReceives": pktIn * 0.02, "Ip6OutRequests": pktOut * 0.02, "Udp6InDatagrams": pktIn * 0.005, "Udp6OutDatagrams": pktOut * 0.005} {
		if i, ok := h.snmp6Index[name]; ok {
			h.snmp6[i] += math.Round(v)
		}
	}
	h.files = max(500, h.files+5*r.NormFloat64()+(u-0.5)*3)

	// vmstat: paging follows load and I/O, page counts follow memory, the
	// rest stays still.
	faults := 1000*nc*u + 300 + 100*r.Float64()
	allocs := faults * (1.1 + 0.2*r.Float64())
	for name, v := range map[string]float64{
		"pgfault": faults, "pgalloc_normal": allocs * 0.8, "pgalloc_dma32": allocs * 0.2, "pgfree": allocs * (0.98 + 0.04*r.Float64()),
		"numa_hit": allocs, "numa_local": allocs, "pgactivate": faults * 0.05, "pgdeactivate": faults * 0.01,
		"pgpgin": sectorsIn / 2, "pgpgout": sectorsOut / 2, "pgreuse": faults * 0.02, "pglazyfree": faults * 0.001,
		"pgmajfault": float64(r.IntN(1 + int(3*io))), "workingset_refault_file": float64(r.IntN(1 + int(5*io))),
		"workingset_activate_file": float64(r.IntN(1 + int(2*io))), "pswpout": swapOut, "pswpin": swapIn,
		"thp_fault_alloc": float64(r.IntN(2)) * u, "pgrotated": float64(r.IntN(2)) * io, "allocstall_normal": 0,
	} {
		if i, ok := h.vmIndex[name]; ok {
			h.vmstat[i] += math.Round(v)
		}
	}
	for name, v := range map[string]float64{
		"nr_free_pages": free / 4, "nr_anon_pages": h.anon / 4, "nr_file_pages": (h.cache + h.buffers) / 4,
		"nr_dirty": h.dirty / 4, "nr_active_anon": h.anon * 0.9 / 4, "nr_inactive_anon": h.anon * 0.1 / 4,
		"nr_active_file": h.cache * 0.4 / 4, "nr_inactive_file": h.cache * 0.6 / 4, "nr_slab_reclaimable": h.slab * 0.6 / 4,
		"nr_slab_unreclaimable": h.slab * 0.4 / 4, "nr_mapped": h.cache * 0.1 / 4,
	} {
		if i, ok := h.vmIndex[name]; ok {
			h.vmstat[i] = math.Round(v)
		}
	}

	// Processes: a few change state, a short-lived one starts or exits.
	changed := h.stepProcs(u, io)

	for i := range h.temps {
		target := 35 + 50*u*h.scale
		if i > 0 {
			target += 5 * (h.imbalance[i-1] - 1)
		}
		h.temps[i] += 0.2*(target-h.temps[i]) + 0.3*r.NormFloat64()
	}
	if h.tick == 1 {
		for i := range h.temps {
			h.temps[i] = 40
		}
	}
	return h.write(free, changed)
}

func (h *Host) stepProcs(u, io float64) []*proc {
	r := h.rng
	var changed []*proc
	want := max(1, int(math.Round(u*float64(h.ncpu)))) // runnable
	running := 0
	for _, p := range h.procs {
		if p.state == 'R' {
			running++
		}
	}
	for _, p := range h.procs {
		if p.state == 'I' || r.IntN(8) != 0 {
			continue
		}
		old := p.state
		switch {
		case running < want && p.state == 'S':
			p.state = 'R'
			running++
		case running > want && p.state == 'R':
			p.state = 'S'
			running--
		case p.state == 'S' && io > 0.7 && r.IntN(10) == 0:
			p.state = 'D'
		case p.state == 'D':
			p.state = 'S'
		}
		if p.state != old {
			changed = append(changed, p)
		}
	}
	// Short-lived processes (cron jobs, health checks).
	kept := h.procs[:0]
	for _, p := range h.procs {
		if p.short {
			p.ttl--
			if p.ttl <= 0 {
				os.RemoveAll(h.path(strconv.Itoa(p.pid)))
				continue
			}
		}
		kept = append(kept, p)
	}
	h.procs = kept
	if r.IntN(15) == 0 {
		h.nextPID += 1 + r.IntN(200)
		p := &proc{pid: h.nextPID, comm: []string{"sh", "curl", "logrotate", "find", "gzip"}[r.IntN(5)], state: 'R', threads: 1, short: true, ttl: 1 + r.IntN(20)}
		h.procs = append(h.procs, p)
		changed = append(changed, p)
	}
	return changed
}

func (h *Host) writeProc(p *proc) error {
	dir := h.path(strconv.Itoa(p.pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return harness.WriteFileAtomic(filepath.Join(dir, "stat"), fmt.Appendf(nil,
		"%d (%s) %c 1 %d %d 0 -1 4194560 %d 0 0 0 %d %d 0 0 20 0 %d 0 %d 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		p.pid, p.comm, p.state, p.pid, p.pid, 100+p.pid, h.tick, h.tick/3, p.threads, 100+p.pid))
}

func (h *Host) write(free float64, changed []*proc) error {
	var b bytes.Buffer
	w := func(name string) error {
		err := harness.WriteFileAtomic(h.path(name), b.Bytes())
		b.Reset()
		return err
	}
	i := func(v float64) int64 { return int64(v) }

	// stat
	var tot [8]float64
	for _, c := range h.cpu {
		for k := range c {
			tot[k] += c[k]
		}
	}
	fmt.Fprintf(&b, "cpu  %d %d %d %d %d %d %d %d 0 0\n", i(tot[0]), i(tot[1]), i(tot[2]), i(tot[3]), i(tot[4]), i(tot[5]), i(tot[6]), i(tot[7]))
	for n, c := range h.cpu {
		fmt.Fprintf(&b, "cpu%d %d %d %d %d %d %d %d %d 0 0\n", n, i(c[0]), i(c[1]), i(c[2]), i(c[3]), i(c[4]), i(c[5]), i(c[6]), i(c[7]))
	}
	fmt.Fprintf(&b, "intr %d 0 9 0 0 0 0\nctxt %d\nbtime %d\nprocesses %d\nprocs_running %d\nprocs_blocked %d\nsoftirq %d 0 1 2 3 4 5 6 7 8 9\n",
		i(h.intr), i(h.ctxt), h.btime, i(h.forks), h.running, h.blocked, i(h.intr/3))
	if err := w("stat"); err != nil {
		return err
	}

	fmt.Fprintf(&b, "%.2f %.2f %.2f %d/%d %d\n", h.load1, h.load5, h.load15, h.running, len(h.procs)*3, h.nextPID)
	if err := w("loadavg"); err != nil {
		return err
	}

	// meminfo: the modelled fields; the rest keep the template's values.
	avail := free + h.cache*0.8 + h.slab*0.3
	mem := map[string]float64{
		"MemTotal": h.memTotal, "MemFree": free, "MemAvailable": avail, "Buffers": h.buffers, "Cached": h.cache,
		"Active": h.anon*0.9 + h.cache*0.4, "Inactive": h.anon*0.1 + h.cache*0.6, "Active(anon)": h.anon * 0.9,
		"Inactive(anon)": h.anon * 0.1, "Active(file)": h.cache * 0.4, "Inactive(file)": h.cache * 0.6,
		"Dirty": h.dirty, "AnonPages": h.anon, "Mapped": h.cache * 0.1, "Slab": h.slab, "SReclaimable": h.slab * 0.6,
		"SUnreclaim": h.slab * 0.4, "Committed_AS": h.anon * 1.6, "CommitLimit": h.memTotal / 2,
		"PageTables": float64(len(h.procs)) * 120, "KernelStack": float64(len(h.procs)) * 48,
	}
	for _, f := range h.t.Meminfo {
		v, ok := mem[f.name]
		if !ok {
			v = h.memTmpl[f.name]
		}
		if strings.HasPrefix(f.name, "HugePages_") {
			fmt.Fprintf(&b, "%s: %d\n", f.name, i(v))
		} else {
			fmt.Fprintf(&b, "%s: %d kB\n", f.name, i(v))
		}
	}
	if err := w("meminfo"); err != nil {
		return err
	}

	for k, f := range h.t.Vmstat {
		fmt.Fprintf(&b, "%s %d\n", f.name, i(h.vmstat[k]))
	}
	if err := w("vmstat"); err != nil {
		return err
	}

	for k, res := range []string{"cpu", "io", "memory"} {
		p := h.pressure[k]
		fmt.Fprintf(&b, "some avg10=0.00 avg60=0.00 avg300=0.00 total=%d\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=%d\n", i(p[0]), i(p[1]))
		if err := w("pressure/" + res); err != nil {
			return err
		}
	}

	for _, d := range h.disks {
		fmt.Fprintf(&b, "%4d %7d %s", d.major, d.minor, d.name)
		for _, v := range d.c {
			fmt.Fprintf(&b, " %d", i(v))
		}
		b.WriteByte('\n')
	}
	if err := w("diskstats"); err != nil {
		return err
	}

	b.WriteString("Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n")
	for _, n := range h.nics {
		fmt.Fprintf(&b, "%6s:", n.name)
		for _, v := range n.c {
			fmt.Fprintf(&b, " %d", i(v))
		}
		b.WriteByte('\n')
	}
	if err := w("net/dev"); err != nil {
		return err
	}

	for _, pair := range []struct {
		name string
		ts   []table
	}{{"net/netstat", h.netstat}, {"net/snmp", h.snmp}} {
		for _, t := range pair.ts {
			fmt.Fprintf(&b, "%s: %s\n%s:", t.proto, strings.Join(t.names, " "), t.proto)
			for _, v := range t.vals {
				fmt.Fprintf(&b, " %d", i(v))
			}
			b.WriteByte('\n')
		}
		if err := w(pair.name); err != nil {
			return err
		}
	}
	for k, f := range h.t.SNMP6 {
		fmt.Fprintf(&b, "%-32s\t%d\n", f.name, i(h.snmp6[k]))
	}
	if err := w("net/snmp6"); err != nil {
		return err
	}

	fmt.Fprintf(&b, "sockets: used %d\nTCP: inuse %d orphan %d tw %d alloc %d mem %d\nUDP: inuse %d mem %d\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n",
		i(h.tcpInuse*2+40), i(h.tcpInuse), i(h.tcpTW/20), i(h.tcpTW), i(h.tcpInuse+5), i(h.tcpInuse*3), 4+h.index%3, 2+h.index%5)
	if err := w("net/sockstat"); err != nil {
		return err
	}
	fmt.Fprintf(&b, "%d\t0\t9223372036854775807\n", i(h.files))
	if err := w("sys/fs/file-nr"); err != nil {
		return err
	}

	for _, p := range changed {
		if err := h.writeProc(p); err != nil {
			return err
		}
	}

	hw := filepath.Join(h.Dir, "sys", "class", "hwmon", "hwmon0")
	for k, t := range h.temps {
		fmt.Fprintf(&b, "%d\n", int(t*1000))
		if err := harness.WriteFileAtomic(filepath.Join(hw, fmt.Sprintf("temp%d_input", k+1)), b.Bytes()); err != nil {
			return err
		}
		b.Reset()
	}
	return nil
}
