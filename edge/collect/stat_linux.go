package collect

import (
	"bytes"
	"io"
	"strconv"
)

// userHZ is the unit of the times in /proc/stat (USER_HZ, 100 on every
// Linux architecture that matters here; procfs assumes the same).
const userHZ = 100

// jumpBackSeconds: an idle counter falling back by this much means the cpu
// was hot-unplugged and came back (node_exporter's rule); smaller drops are
// kernel accounting noise (iowait is known to go backwards) and are held.
const jumpBackSeconds = 3.0

// cpu time modes in /proc/stat column order.
const (
	modeUser = iota
	modeNice
	modeSystem
	modeIdle
	modeIowait
	modeIRQ
	modeSoftIRQ
	modeSteal
	modeGuest
	modeGuestNice
	numModes
)

// modeNames are node_cpu_seconds_total's mode labels for the first eight
// columns; guest and guest_nice go to node_cpu_guest_seconds_total.
var modeNames = [modeGuest]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

type cpuTimes [numModes]float64 // seconds

type cpuLine struct {
	id int
	t  cpuTimes
}

// procStat is /proc/stat. have says which of the scalar lines were
// present.
type procStat struct {
	cpus                                         []cpuLine // per cpu, in file order; the "cpu" total line is skipped
	intr, ctxt, btime, forks, running, blocked   float64
	hasIntr, hasCtxt, hasBtime, hasForks, hasRun bool
	hasBlocked                                   bool
}

// parseStat parses /proc/stat into st, reusing st's cpu slice.
func parseStat(r io.Reader, st *procStat) error {
	b, err := readAll(r)
	if err != nil {
		return err
	}
	cpus := st.cpus[:0]
	*st = procStat{}
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		key, rest := nextField(line)
		if len(key) == 0 {
			continue
		}
		if bytes.HasPrefix(key, []byte("cpu")) {
			if len(key) == 3 {
				continue // the all-cpu total
			}
			id, ok := parseInt(key[3:])
			if !ok {
				return malformed(n, line)
			}
			c := cpuLine{id: id}
			for m := 0; m < numModes; m++ {
				var f []byte
				if f, rest = nextField(rest); len(f) == 0 {
					break // older kernels have fewer columns
				}
				v, err := parseNum(f)
				if err != nil {
					return numError(n, key, f)
				}
				c.t[m] = v / userHZ
			}
			cpus = append(cpus, c)
			continue
		}
		var dst *float64
		var has *bool
		switch string(key) {
		case "intr":
			dst, has = &st.intr, &st.hasIntr
		case "ctxt":
			dst, has = &st.ctxt, &st.hasCtxt
		case "btime":
			dst, has = &st.btime, &st.hasBtime
		case "processes":
			dst, has = &st.forks, &st.hasForks
		case "procs_running":
			dst, has = &st.running, &st.hasRun
		case "procs_blocked":
			dst, has = &st.blocked, &st.hasBlocked
		default:
			continue
		}
		f, _ := nextField(rest) // intr: the first number is the total
		v, err := parseNum(f)
		if err != nil {
			return numError(n, key, f)
		}
		*dst, *has = v, true
	}
	st.cpus = cpus
	return nil
}

// StatCollector reads /proc/stat like node_exporter's cpu and stat
// collectors: node_cpu_seconds_total{cpu,mode},
// node_cpu_guest_seconds_total{cpu,mode}, node_intr_total,
// node_context_switches_total, node_forks_total, node_boot_time_seconds,
// node_procs_running and node_procs_blocked.
//
// node_procs_running counts the threads running at the instant of the
// read, the reader included. Read on the whole second it counted every
// second-aligned program waking at that instant (about twice what
// node_exporter, scraped at its own phase, shows); the agent now reads a
// per-host phase after the second (edge/agent collectPhase), and the
// agent's own running threads beyond the reader (from
// /proc/self/task/*/stat) are taken off, so the value is what a reader
// alone sees.
type StatCollector struct {
	f    *procFile
	self *selfTasks
	st   procStat
	prev map[int]*cpuTimes // last reported per cpu: counters are never reported going backwards
	cpus []string          // cached "0", "1", … label values
}

// NewStatCollector reads <root>/stat.
func NewStatCollector(root string) *StatCollector {
	return &StatCollector{f: newProcFile(root + "/stat"), self: newSelfTasks(root), prev: make(map[int]*cpuTimes)}
}

func (c *StatCollector) Name() string { return "stat" }

func (c *StatCollector) Collect(e *Emitter) error {
	r, err := c.f.reader()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	if err := parseStat(r, &c.st); err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	for i := range c.st.cpus {
		cl := &c.st.cpus[i]
		t := c.monotonic(cl.id, &cl.t)
		cpu := c.cpuLabel(cl.id)
		for m, mode := range modeNames {
			e.Counter("node_cpu_seconds_total", t[m], "cpu", cpu, "mode", mode)
		}
		e.Counter("node_cpu_guest_seconds_total", t[modeGuest], "cpu", cpu, "mode", "user")
		e.Counter("node_cpu_guest_seconds_total", t[modeGuestNice], "cpu", cpu, "mode", "nice")
	}
	if len(c.prev) > len(c.st.cpus) { // cpus went offline
		for id := range c.prev {
			if !c.online(id) {
				delete(c.prev, id)
			}
		}
	}
	st := &c.st
	if st.hasIntr {
		e.Counter("node_intr_total", st.intr)
	}
	if st.hasCtxt {
		e.Counter("node_context_switches_total", st.ctxt)
	}
	if st.hasForks {
		e.Counter("node_forks_total", st.forks)
	}
	if st.hasBtime {
		e.Gauge("node_boot_time_seconds", st.btime)
	}
	if st.hasRun {
		running := st.running
		if own := c.self.running(); own > 1 {
			running = max(running-float64(own-1), 1)
		}
		e.Gauge("node_procs_running", running)
	}
	if st.hasBlocked {
		e.Gauge("node_procs_blocked", st.blocked)
	}
	return nil
}

// monotonic folds t into the last reported times of cpu id and returns
// them: a value that went backwards is held, and an idle drop of
// jumpBackSeconds or more (a hot-plugged cpu) starts the cpu afresh.
func (c *StatCollector) monotonic(id int, t *cpuTimes) *cpuTimes {
	p, ok := c.prev[id]
	if !ok {
		p = new(cpuTimes)
		*p = *t
		c.prev[id] = p
		return p
	}
	if p[modeIdle]-t[modeIdle] >= jumpBackSeconds {
		*p = cpuTimes{}
	}
	for m, v := range t {
		if v >= p[m] {
			p[m] = v
		}
	}
	return p
}

func (c *StatCollector) online(id int) bool {
	for _, cl := range c.st.cpus {
		if cl.id == id {
			return true
		}
	}
	return false
}

func (c *StatCollector) cpuLabel(n int) string {
	for len(c.cpus) <= n {
		c.cpus = append(c.cpus, strconv.Itoa(len(c.cpus)))
	}
	return c.cpus[n]
}
