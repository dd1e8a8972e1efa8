package collect

import (
	"encoding/binary"
	"io"
	"syscall"
	"unsafe"
)

// Files under /proc and /sys are small and read every cycle. os.Open
// allocates an *os.File and friends per call and syscall.Open copies the
// path, so collectors read them with raw openat/read/close on NUL-terminated
// paths built once: a steady cycle allocates nothing here.

const atFDCWD = -0x64 // AT_FDCWD: paths relative to the working directory

// cpath returns p NUL-terminated, for openat.
func cpath(p string) []byte { return append([]byte(p), 0) }

// openat opens the NUL-terminated path p (relative to dirfd) read-only.
func openat(dirfd int, p []byte, flags int) (int, error) {
	for {
		fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&p[0])),
			uintptr(syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_LARGEFILE|flags), 0, 0, 0)
		switch e {
		case 0:
			return int(fd), nil
		case syscall.EINTR:
			continue
		}
		return -1, e
	}
}

// readAt reads the whole file at the NUL-terminated path p (relative to
// dirfd) into buf's storage, growing it when needed.
func readAt(dirfd int, p []byte, buf []byte) ([]byte, error) {
	fd, err := openat(dirfd, p, 0)
	if err != nil {
		return buf[:0], err
	}
	defer syscall.Close(fd)
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return buf, err
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// procFile is one small file read whole every cycle into a reused buffer
// and handed to a parser as an io.Reader that parsers walk in place.
type procFile struct {
	path string // for error messages
	cp   []byte // path, NUL-terminated
	c    content
}

func newProcFile(path string) *procFile {
	return &procFile{path: path, cp: cpath(path), c: content{b: make([]byte, 0, 4096)}}
}

// bytes reads the file; the result is valid until the next read.
func (f *procFile) bytes() ([]byte, error) {
	b, err := readAt(atFDCWD, f.cp, f.c.b)
	f.c.b, f.c.off = b, 0
	return b, err
}

// reader reads the file and returns its contents as a reader.
func (f *procFile) reader() (io.Reader, error) {
	if _, err := f.bytes(); err != nil {
		return nil, err
	}
	return &f.c, nil
}

// content is a whole file's bytes as an io.Reader. Parsers handed a
// *content walk its lines in place, without copying or allocating.
type content struct {
	b   []byte
	off int
}

func (c *content) Read(p []byte) (int, error) {
	if c.off >= len(c.b) {
		return 0, io.EOF
	}
	n := copy(p, c.b[c.off:])
	c.off += n
	return n, nil
}

// readAll returns what is left in r: in place for a *content, by reading
// (and allocating) for any other reader.
func readAll(r io.Reader) ([]byte, error) {
	if c, ok := r.(*content); ok {
		b := c.b[c.off:]
		c.off = len(c.b)
		return b, nil
	}
	return io.ReadAll(r)
}

// dirEntries calls fn with the name of every entry of the directory open as
// fd, except . and .., reading the raw dirents into buf (reused by the
// caller). It returns buf for reuse.
func dirEntries(fd int, buf []byte, fn func(name []byte, typ uint8)) ([]byte, error) {
	if cap(buf) < 8192 {
		buf = make([]byte, 8192)
	}
	buf = buf[:cap(buf)]
	for {
		n, err := syscall.Getdents(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n <= 0 {
			return buf, nil
		}
		// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
		for off := 0; off+19 < n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen == 0 || off+reclen > n {
				break
			}
			name := buf[off+19 : off+reclen]
			for i, ch := range name {
				if ch == 0 {
					name = name[:i]
					break
				}
			}
			if !(len(name) == 1 && name[0] == '.') && !(len(name) == 2 && name[0] == '.' && name[1] == '.') {
				fn(name, buf[off+18])
			}
			off += reclen
		}
	}
}
