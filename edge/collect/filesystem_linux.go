package collect

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// FilesystemCollector reports the mounts listed in /proc/mounts like
// node_exporter: node_filesystem_{size,free,avail}_bytes,
// node_filesystem_files, node_filesystem_files_free,
// node_filesystem_readonly and node_filesystem_device_error, labelled
// device, fstype, mountpoint. Mounts whose filesystem type or mount point
// match the exclude regexps (pseudo filesystems, /proc, /sys, /dev,
// container storage by default) are skipped; when a mount point is listed
// more than once, the last (visible) mount is reported.
//
// statfs on a network filesystem (nfs, cifs, fuse, …) can block for
// minutes, so it runs with a timeout; a mount that times out reports
// device_error 1 and is not asked again until its pending statfs returns.
// Local filesystems are asked inline (no goroutine, no allocation).
type FilesystemCollector struct {
	f                         *procFile
	fsTypesExclude, mpExclude *regexp.Regexp
	timeout                   time.Duration
	mounts                    nameCache[*mount] // by /proc/mounts line
	cur                       []*mount          // this cycle's mounts, in file order
}

type mount struct {
	device, mountpoint, fstype string
	cp                         []byte // mountpoint, NUL-terminated
	ro                         bool   // mounted ro
	skip                       bool   // excluded by type or mount point
	network                    bool   // statfs may hang: ask with a timeout
	stuck                      atomic.Bool
}

// NewFilesystemCollector reads the mount table <root>/mounts and statfs's
// every mount not excluded by fsTypesExclude or mountPointsExclude (nil
// excludes none); statfs on network filesystems is bounded by timeout.
func NewFilesystemCollector(root string, fsTypesExclude, mountPointsExclude *regexp.Regexp, timeout time.Duration) *FilesystemCollector {
	return &FilesystemCollector{
		f:              newProcFile(root + "/mounts"),
		fsTypesExclude: fsTypesExclude,
		mpExclude:      mountPointsExclude,
		timeout:        timeout,
	}
}

func (c *FilesystemCollector) Name() string { return "filesystem" }

func (c *FilesystemCollector) Collect(e *Emitter) error {
	r, err := c.f.reader()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
	c.cur = c.cur[:0]
	err = parseMounts(r, func(line []byte, _, _, _, _ []byte) {
		if m := c.mounts.get(line, c.newMount); !m.skip {
			c.cur = append(c.cur, m)
		}
	})
	c.mounts.endCycle()
	if err != nil {
		return wrap(c.Name(), c.f.path, err)
	}
next:
	for i, m := range c.cur {
		for _, later := range c.cur[i+1:] {
			if later.mountpoint == m.mountpoint {
				continue next // over-mounted: statfs sees the later one
			}
		}
		c.report(e, m)
	}
	return nil
}

func (c *FilesystemCollector) report(e *Emitter, m *mount) {
	var st unix.Statfs_t
	ok := false
	switch {
	case m.stuck.Load():
	case m.network:
		ok = c.statfsTimeout(m, &st)
	default:
		ok = statfs(m.cp, &st) == nil
	}
	if !ok {
		e.Gauge("node_filesystem_device_error", 1, "device", m.device, "fstype", m.fstype, "mountpoint", m.mountpoint)
		return
	}
	bs := float64(st.Bsize)
	ro := 0.0
	if m.ro || st.Flags&unix.ST_RDONLY != 0 {
		ro = 1
	}
	e.Gauge("node_filesystem_size_bytes", float64(st.Blocks)*bs, "device", m.device, "fstype", m.fstype, "mountpoint", m.mountpoint)
	e.Gauge("node_filesystem_free_bytes", float64(st.Bfree)*bs, "device", m.device, "fstype", m.fstype, "mountpoint", m.mountpoint)
	e.Gauge("node_filesystem_avail_bytes", float64(st.Bavail)*bs, "device", m.device, "fstype", m.fstype, "mountpoint", m.mountpoint)
	e.Gauge("node_filesystem_files", float64(st.Files), "device", m.device, "fstype", m.fstype, "mountpoint", m.mountpoint)
	e.Gauge("node_filesystem_files_free", float64(st.Ffree), "device", m.device, "fstype", m.fstype, "mountpoint", m.mountpoint)
	e.Gauge("node_filesystem_readonly", ro, "device", m.device, "fstype", m.fstype, "mountpoint", m.mountpoint)
	e.Gauge("node_filesystem_device_error", 0, "device", m.device, "fstype", m.fstype, "mountpoint", m.mountpoint)
}

// statfsTimeout runs statfs in a goroutine and waits up to the timeout. On
// timeout the mount is marked stuck until that statfs returns.
func (c *FilesystemCollector) statfsTimeout(m *mount, st *unix.Statfs_t) bool {
	type result struct {
		st  unix.Statfs_t
		err error
	}
	done := make(chan result, 1)
	m.stuck.Store(true)
	go func() {
		var r result
		r.err = statfs(m.cp, &r.st)
		m.stuck.Store(false)
		done <- r
	}()
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case r := <-done:
		*st = r.st
		return r.err == nil
	case <-t.C:
		return false
	}
}

// statfs asks for the filesystem at the NUL-terminated path p through an
// O_PATH descriptor: no path copy, and no read permission on the mount
// point needed.
func statfs(p []byte, st *unix.Statfs_t) error {
	fd, err := openat(atFDCWD, p, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for {
		err = unix.Fstatfs(fd, st)
		if err != unix.EINTR {
			return err
		}
	}
}

func (c *FilesystemCollector) newMount(line string) *mount {
	device, rest := nextField([]byte(line))
	mp, rest := nextField(rest)
	fstype, rest := nextField(rest)
	opts, _ := nextField(rest)
	m := &mount{
		device:     unescapeMount(string(device)),
		mountpoint: unescapeMount(string(mp)),
		fstype:     string(fstype),
	}
	m.cp = cpath(m.mountpoint)
	for o := range strings.SplitSeq(string(opts), ",") {
		if o == "ro" {
			m.ro = true
		}
	}
	m.skip = matches(c.fsTypesExclude, m.fstype) || matches(c.mpExclude, m.mountpoint)
	m.network = networkFS(m.fstype)
	return m
}

// networkFS reports filesystem types whose statfs can block on a server.
func networkFS(t string) bool {
	switch t {
	case "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "lustre", "afs", "ncpfs", "davfs", "virtiofs":
		return true
	}
	return strings.HasPrefix(t, "fuse")
}

// parseMounts calls fn for every line of /proc/mounts with its first four
// fields, still octal-escaped as the kernel writes them:
//
//	/dev/vda / ext4 rw,relatime 0 0
func parseMounts(r io.Reader, fn func(line, device, mountpoint, fstype, options []byte)) error {
	return eachLine(r, func(n int, line, device, rest []byte) error {
		mp, rest := nextField(rest)
		fstype, rest := nextField(rest)
		opts, _ := nextField(rest)
		if len(opts) == 0 {
			return malformed(n, line)
		}
		fn(bytes.TrimSpace(line), device, mp, fstype, opts)
		return nil
	})
}

// unescapeMount undoes the kernel's octal escapes in /proc/mounts fields
// ("\040" for a space, "\011" tab, "\012" newline, "\134" backslash).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b = append(b, (s[i+1]-'0')<<6|(s[i+2]-'0')<<3|(s[i+3]-'0'))
			i += 3
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
