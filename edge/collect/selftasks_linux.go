package collect

import (
	"syscall"
)

// selfTasks counts the agent's own running threads from
// <root>/self/task/*/stat (state R), for node_procs_running. It reads
// through a directory descriptor with reused buffers, like the processes
// collector. A tree without self/task (a fixture, a synthetic host)
// counts 0.
type selfTasks struct {
	cp           []byte
	dirBuf, path []byte
	stat         []byte
}

func newSelfTasks(root string) *selfTasks {
	return &selfTasks{cp: cpath(root + "/self/task"), path: make([]byte, 0, 32), stat: make([]byte, 0, 512)}
}

// running returns how many of the agent's threads are running now.
func (s *selfTasks) running() int {
	dir, err := openat(atFDCWD, s.cp, syscall.O_DIRECTORY)
	if err != nil {
		return 0
	}
	defer syscall.Close(dir)
	n := 0
	s.dirBuf, _ = dirEntries(dir, s.dirBuf, func(name []byte, _ uint8) {
		if _, ok := parseInt(name); !ok {
			return
		}
		s.path = append(append(s.path[:0], name...), "/stat\x00"...)
		b, err := readAt(dir, s.path, s.stat)
		s.stat = b
		if err != nil {
			return
		}
		if state, _, err := parseProcStat(b); err == nil && state == 'R' {
			n++
		}
	})
	return n
}
