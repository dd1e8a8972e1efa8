// Package tmpfs gives tests a real small file system to fill: a tmpfs of
// a given size (root only; the test is skipped otherwise, saying why) and
// a writer that fills it to its last block, as another program on the
// host would. The agent's and the spool's full-disk tests use it.
package tmpfs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a temporary directory and returns
// it, or skips the test where mounting is not allowed (not root). It is
// unmounted when the test ends, lazily if something still maps a file of
// it (a memtable Badger could not flush on the full disk stays mapped:
// its log is kept for the next open).
func Mount(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("this test needs a real full file system: mounting a %d-byte tmpfs needs root: %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmounting the test's tmpfs %s: %v", dir, err)
			}
		}
	})
	return dir
}

// Fill writes path until the file system has no block left.
func Fill(t testing.TB, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			buf = buf[:len(buf)/2]
		}
	}
}
