package spool

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Badger v4 writes its tables through a shared mapping (copying the built
// table into it) and keeps every table mapped while it is open; the value
// log is written the same way. Every page written stays resident and
// counts in the agent's RSS (file pages) until the table is deleted by a
// compaction: the RSS grew by the bytes of every table the agent wrote.
// Badger has no file-I/O mode for tables. ReleasePages asks the kernel to
// reclaim those pages now (madvise MADV_PAGEOUT), as it would under memory
// pressure: clean pages leave the mapping and the page cache, dirty ones
// are written back first; a later read (a compaction, a history query)
// faults them in from disk. MADV_PAGEOUT never discards data, whatever the
// mapping (anonymous memory without swap is left alone), so an address
// range Badger unmapped and something else mapped since the maps were
// read comes to no harm.

// madvPageout is MADV_PAGEOUT (Linux 5.4).
const madvPageout = 21

// ReleasePages pages out the mapped tables (.sst) and value log files
// (.vlog) of the spool's directory and returns the bytes of mappings
// advised. An error (a kernel before 5.4: EINVAL) changes nothing.
func (s *Spool) ReleasePages() (int64, error) {
	dir, err := filepath.Abs(s.opts.Dir)
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type span struct{ lo, hi uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// lo-hi perms offset dev inode path
		fs := bytes.Fields(sc.Bytes())
		if len(fs) < 6 {
			continue
		}
		p := string(fs[5])
		if filepath.Dir(p) != dir || (filepath.Ext(p) != ".sst" && filepath.Ext(p) != ".vlog") {
			continue
		}
		lo, hi, ok := bytes.Cut(fs[0], []byte("-"))
		l, err1 := strconv.ParseUint(string(lo), 16, 64)
		h, err2 := strconv.ParseUint(string(hi), 16, 64)
		if ok && err1 == nil && err2 == nil && h > l {
			spans = append(spans, span{uintptr(l), uintptr(h)})
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	var n int64
	for _, m := range spans {
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, m.lo, m.hi-m.lo, madvPageout); e != 0 {
			if e == syscall.ENOMEM {
				continue // unmapped since the maps were read
			}
			return n, e
		}
		n += int64(m.hi - m.lo)
	}
	return n, nil
}
