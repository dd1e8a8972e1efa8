package collect

import (
	"bytes"
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// UnameCollector reports node_exporter's node_uname_info{domainname,
// machine, nodename, release, sysname, version} = 1 from
// <root>/sys/kernel/{ostype,hostname,domainname,osrelease,version} (what
// uname(2) returns, readable in a fixture tree) and the machine from
// <root>/sys/kernel/arch where the kernel has it, else uname(2). The
// Node Exporter Full dashboard's variables ($nodename, $node) come from
// this series.
type UnameCollector struct {
	root   string
	labels []string
	cycle  int
}

// unameEvery: the kernel's names are re-read every this many cycles (a
// hostname changes rarely; the series is repeated in between).
const unameEvery = 60

// NewUnameCollector reads <root>/sys/kernel.
func NewUnameCollector(root string) *UnameCollector { return &UnameCollector{root: root} }

func (c *UnameCollector) Name() string { return "uname" }

func (c *UnameCollector) Collect(e *Emitter) error {
	c.cycle++
	if c.labels != nil && c.cycle%unameEvery != 0 {
		e.Gauge("node_uname_info", 1, c.labels...)
		return nil
	}
	read := func(f string) (string, error) {
		b, err := os.ReadFile(c.root + "/sys/kernel/" + f)
		return string(bytes.TrimSpace(b)), err
	}
	var l [5]string
	for i, f := range [...]string{"ostype", "hostname", "domainname", "osrelease", "version"} {
		v, err := read(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return ErrNoData
			}
			return wrap(c.Name(), c.root+"/sys/kernel/"+f, err)
		}
		l[i] = v
	}
	machine, err := read("arch")
	if err != nil || machine == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err == nil {
			machine = unix.ByteSliceToString(u.Machine[:])
		}
	}
	if c.labels == nil || c.labels[1] != l[2] || c.labels[3] != machine || c.labels[5] != l[1] ||
		c.labels[7] != l[3] || c.labels[9] != l[0] || c.labels[11] != l[4] {
		c.labels = []string{"domainname", l[2], "machine", machine, "nodename", l[1], "release", l[3], "sysname", l[0], "version", l[4]}
	}
	e.Gauge("node_uname_info", 1, c.labels...)
	return nil
}
