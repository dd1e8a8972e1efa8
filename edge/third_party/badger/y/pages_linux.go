package y

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

var pageSize = os.Getpagesize()

// faultAround is the kernel's default fault_around_bytes: a read fault on
// a file mapping also maps the pages of the 64 KiB-aligned window around
// it that are in the page cache.
const faultAround = 64 << 10

// DropPages takes the whole pages of m[off:end], a range of the shared
// file mapping m the caller has finished reading, out of the process's
// page tables (madvise MADV_DONTNEED), together with the fault-around
// window before it: they leave the RSS but stay in the page cache, and a
// later read faults them back in without disk I/O. edgepulse patch:
// Badger reads tables through their mappings, and every page a
// compaction or an iteration touched stayed resident until the mapping
// was closed; on the edge agent, with a day of raw history, one
// compaction left 10–21 MB of table pages in its RSS. The range is
// rounded down at its end (the page it ends in may hold the next block,
// read next) and starts a fault-around window early (reading this range
// mapped the pages of the window its first page is in again, though the
// previous range had dropped them). For a shared file mapping
// MADV_DONTNEED never loses data, so a page another goroutine is reading
// at the same moment only faults in again. Errors are ignored: the pages
// then stay resident, as without the call.
func DropPages(m []byte, off, end int) {
	lo := max(0, off-faultAround) &^ (pageSize - 1)
	hi := min(end, len(m)) &^ (pageSize - 1)
	if hi <= lo {
		return
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(unsafe.Pointer(&m[lo])), uintptr(hi-lo), unix.MADV_DONTNEED)
}
