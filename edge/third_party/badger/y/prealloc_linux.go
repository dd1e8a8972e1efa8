package y

import (
	"os"

	"golang.org/x/sys/unix"
)

// Preallocate gives the file's bytes [off, off+n) disk blocks
// (fallocate(2), keeping the file's size). edgepulse patch: Badger writes
// its write-ahead logs, value logs and new tables through shared memory
// mappings of files it extends with ftruncate, i.e. files full of holes.
// Storing into a mapped hole needs a block, and when the file system has
// none left the kernel answers with SIGBUS, which kills the process: a
// disk filled by any program between two of the caller's checks is a
// crash instead of an error. With the blocks allocated before the mapped
// writes, a full disk is ENOSPC here, returned as an error.
func Preallocate(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	for {
		err := unix.Fallocate(int(f.Fd()), 0, off, n)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP:
			// A file system without fallocate (rare on Linux: ext4,
			// xfs, btrfs, f2fs and tmpfs all have it): writing zeros
			// would allocate, but also cost the write; keep the old
			// behaviour there.
			return nil
		}
		return Wrapf(err, "preallocating %d bytes at %d of %s", n, off, f.Name())
	}
}
