package agent

import (
	"bufio"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The agent's executable is most of its RSS: ~13 MB of an 18 MB binary
// (code, read-only data, the function table) is mapped while the agent
// runs a few megabytes of it. The kernel maps an executable's page cache
// in large folios, and a fault maps the whole folio, so every page of a
// folio the agent touched once at start stays resident. (Unmapping the
// pages alone does not help: the next fault maps the folio back whole.)
//
// dropExecutablePages releases them once the agent has started: it marks
// the executable's read-only mappings MADV_RANDOM (no readahead: a fault
// reads the one page it needs into a small folio), unmaps their pages
// (MADV_DONTNEED; these are clean copies of the file) and drops the
// file's unmapped page cache (POSIX_FADV_DONTNEED, which any reader of the
// file may do, unlike MADV_PAGEOUT of a file the process does not own).
// What the agent runs faults back in, page by page, from the page cache or
// the disk: a few hundred reads once, then nothing. A mapping holding
// pages the process wrote (relocations on a read-only segment) is left
// alone: discarding them would lose the writes.
//
// It returns the executable's resident bytes before and after.
func dropExecutablePages() (before, after int64, err error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, 0, err
	}
	// A binary replaced since the agent started (an upgrade) is
	// "<path> (deleted)"; its mappings carry the path and the marker.
	exe = strings.TrimSuffix(exe, " (deleted)")
	maps, err := exeMappings(exe)
	if err != nil {
		return 0, 0, err
	}
	// The code running now must lie in one of them: under an emulator
	// (qemu-user) /proc/self/smaps may describe the emulator's own
	// address space, where advising these ranges would hit something
	// else. Then nothing is done.
	pc := reflect.ValueOf(exeMappings).Pointer()
	found := false
	for _, m := range maps {
		before += m.rss
		found = found || (m.start <= pc && pc < m.end)
	}
	if !found {
		return before, 0, fmt.Errorf("the running code (%#x) is in none of the mappings of %s listed in /proc/self/smaps (an emulator?): left alone", pc, exe)
	}
	// The running inode, whatever the path holds now.
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return before, 0, err
	}
	defer f.Close()
	// The page cache keeps dirty pages: an executable written moments
	// ago (a fresh install, a benchmark's build) is written back first.
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return before, 0, fmt.Errorf("fdatasync %s: %w", exe, err)
	}
	// Three passes: the agent's other goroutines keep running and fault
	// large folios back in between the unmapping and the page cache drop
	// of the first pass (the page cache keeps a folio that is mapped);
	// after it their pages come back as small folios.
	for range 3 {
		for _, m := range maps {
			if m.writable || m.anon > 0 {
				continue
			}
			for _, advice := range []uintptr{unix.MADV_RANDOM, unix.MADV_DONTNEED} {
				if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, advice); e != 0 {
					return before, 0, fmt.Errorf("madvise %#x-%#x of %s: %w", m.start, m.end, exe, e)
				}
			}
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return before, 0, fmt.Errorf("fadvise %s: %w", exe, err)
		}
	}
	maps, err = exeMappings(exe)
	if err != nil {
		return before, 0, err
	}
	for _, m := range maps {
		after += m.rss
	}
	return before, after, nil
}

type exeMapping struct {
	start, end uintptr
	writable   bool
	rss, anon  int64 // bytes
}

// exeMappings reads the mappings of path from /proc/self/smaps.
func exeMappings(path string) ([]exeMapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []exeMapping
	var cur *exeMapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fs[0], "-"); ok && len(fs) >= 5 && !strings.HasSuffix(fs[0], ":") {
			cur = nil
			if len(fs) < 6 || fs[5] != path {
				continue
			}
			s, err1 := strconv.ParseUint(lo, 16, 64)
			e, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("smaps line %q", sc.Text())
			}
			out = append(out, exeMapping{start: uintptr(s), end: uintptr(e), writable: strings.Contains(fs[1], "w")})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil || len(fs) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fs[1], 10, 64)
		switch fs[0] {
		case "Rss:":
			cur.rss = kb << 10
		case "Anonymous:":
			cur.anon = kb << 10
		}
	}
	return out, sc.Err()
}
