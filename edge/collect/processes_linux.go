package collect

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// processStates are always reported (0 when none), so each state is a
// continuous series; any other state letter seen is reported too.
var processStates = [...]byte{'D', 'I', 'R', 'S', 'T', 'Z'}

// ProcessesCollector counts processes by state from /proc/[pid]/stat like
// node_exporter's processes collector: node_processes_state{state},
// node_processes_pids, node_processes_threads (the sum of num_threads),
// node_processes_max_processes (kernel.pid_max) and
// node_processes_max_threads (kernel.threads-max). It reads only each
// pid's stat file (no per-thread files), through a directory descriptor
// with reused buffers: one getdents pass plus openat/read/close per pid.
type ProcessesCollector struct {
	root               string
	cp                 []byte
	pidMax, threadsMax *procFile
	dirBuf, path, stat []byte
	counts             [256]int
	labels             [256]string
}

// NewProcessesCollector reads <root>/[pid]/stat and
// <root>/sys/kernel/{pid_max,threads-max}.
func NewProcessesCollector(root string) *ProcessesCollector {
	c := &ProcessesCollector{
		root:       root,
		cp:         cpath(root),
		pidMax:     newProcFile(root + "/sys/kernel/pid_max"),
		threadsMax: newProcFile(root + "/sys/kernel/threads-max"),
		path:       make([]byte, 0, 32),
		stat:       make([]byte, 0, 512),
	}
	for i := range c.labels {
		c.labels[i] = string(rune(i))
	}
	return c
}

func (c *ProcessesCollector) Name() string { return "processes" }

func (c *ProcessesCollector) Collect(e *Emitter) error {
	dir, err := openat(atFDCWD, c.cp, syscall.O_DIRECTORY)
	if err != nil {
		return wrap(c.Name(), c.root, err)
	}
	defer syscall.Close(dir)
	c.counts = [256]int{}
	pids, threads := 0, 0
	var bad error
	c.dirBuf, err = dirEntries(dir, c.dirBuf, func(name []byte, _ uint8) {
		if _, ok := parseInt(name); !ok || bad != nil {
			return
		}
		c.path = append(append(c.path[:0], name...), "/stat\x00"...)
		b, err := readAt(dir, c.path, c.stat)
		c.stat = b
		if err != nil {
			return // exited since the listing (or hidden): not counted
		}
		state, n, err := parseProcStat(b)
		if err != nil {
			bad = fmt.Errorf("%s/%s/stat: %w", c.root, name, err)
			return
		}
		c.counts[state]++
		pids++
		threads += n
	})
	if err != nil {
		return wrap(c.Name(), c.root, err)
	}
	if bad != nil {
		return fmt.Errorf("collect %s: %w", c.Name(), bad)
	}
	for _, s := range processStates {
		e.Gauge("node_processes_state", float64(c.counts[s]), "state", c.labels[s])
	}
	for s, n := range c.counts {
		if n > 0 && bytes.IndexByte(processStates[:], byte(s)) < 0 {
			e.Gauge("node_processes_state", float64(n), "state", c.labels[s])
		}
	}
	e.Gauge("node_processes_pids", float64(pids))
	e.Gauge("node_processes_threads", float64(threads))
	for _, l := range [...]struct {
		f    *procFile
		name string
	}{{c.pidMax, "node_processes_max_processes"}, {c.threadsMax, "node_processes_max_threads"}} {
		b, err := l.f.bytes()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return wrap(c.Name(), l.f.path, err)
		}
		f, _ := nextField(b)
		v, err := parseNum(f)
		if err != nil {
			return wrap(c.Name(), l.f.path, numError(1, []byte("value"), f))
		}
		e.Gauge(l.name, v)
	}
	return nil
}

// parseProcStat returns the state letter and num_threads of a
// /proc/[pid]/stat line. The command name is in parentheses and may hold
// spaces and parentheses itself, so fields are counted from the last ')':
//
//	42 (my (odd) prog) S 1 42 42 0 -1 4194560 … 20th field: num_threads …
func parseProcStat(b []byte) (state byte, threads int, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, malformed(1, b)
	}
	rest := b[i+1:]
	// fields after comm: state ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime stime cutime cstime priority nice
	// num_threads
	var f []byte
	for k := 0; k < 18; k++ {
		if f, rest = nextField(rest); len(f) == 0 {
			return 0, 0, malformed(1, b)
		}
		if k == 0 {
			if len(f) != 1 {
				return 0, 0, malformed(1, b)
			}
			state = f[0]
		}
	}
	n, ok := parseInt(f)
	if !ok {
		return 0, 0, numError(1, []byte("num_threads"), f)
	}
	return state, n, nil
}
