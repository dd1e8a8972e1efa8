package collect

import (
	"fmt"
	"path/filepath"
	"regexp"
	"time"
)

// node_exporter's defaults (v1.9), so the same devices, mounts and fields
// are reported.
const (
	DefaultDiskExclude        = `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`
	DefaultNetDevExclude      = `` // none: node_exporter reports lo too
	DefaultFSTypesExclude     = `^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$`
	DefaultMountPointsExclude = `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`
	DefaultNetstatFields      = `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$`
	DefaultVmstatFields       = `^(oom_kill|pgpg|pswp|pg.*fault).*`
	DefaultMountTimeout       = 5 * time.Second
)

// Options configure the default collector set. The zero value means
// defaults: an empty field takes the Default… value above.
type Options struct {
	// DiskExclude drops block devices whose name matches from diskstats
	// (default: partitions, loop, ram, zram and floppy devices). "^$"
	// keeps every device.
	DiskExclude string `yaml:"disk_exclude"`
	// NetDevExclude drops network interfaces whose name matches from
	// net/dev (default: none).
	NetDevExclude string `yaml:"netdev_exclude"`
	// FSTypesExclude drops mounts whose filesystem type matches (default:
	// pseudo and read-only image filesystems).
	FSTypesExclude string `yaml:"fs_types_exclude"`
	// MountPointsExclude drops mounts whose mount point matches (default:
	// /dev, /proc, /sys and container storage).
	MountPointsExclude string `yaml:"mount_points_exclude"`
	// NetstatFields keeps the net/netstat, net/snmp and net/snmp6 fields
	// (as Proto_Field) that match.
	NetstatFields string `yaml:"netstat_fields"`
	// VmstatFields keeps the /proc/vmstat fields that match (default:
	// paging, swapping, page faults and OOM kills). ".*" keeps all.
	VmstatFields string `yaml:"vmstat_fields"`
	// SysRoot is the sysfs root (default: "sys" next to the procfs root,
	// so /proc gives /sys and testdata/proc gives testdata/sys).
	SysRoot string `yaml:"sys_root"`
	// EtcRoot is where os-release is read (default: "etc" next to the
	// procfs root, so /proc gives /etc and testdata/proc testdata/etc).
	EtcRoot string `yaml:"etc_root"`
	// TextfileDirectory holds *.prom files in the Prometheus text format
	// whose samples are reported like node_exporter's textfile collector
	// (at most 2000 samples, re-read every 10 cycles). Default: none
	// (node_textfile_scrape_error 0 only).
	TextfileDirectory string `yaml:"textfile_directory"`
	// MountTimeout bounds statfs on network filesystems (nfs, cifs, fuse,
	// …); a mount that does not answer in time is reported with
	// node_filesystem_device_error 1 and skipped until it answers again.
	// Range 10ms to 1m; default 5s.
	MountTimeout time.Duration `yaml:"mount_timeout"`
}

// DefaultOptions returns the defaults spelled out.
func DefaultOptions() Options {
	return Options{
		DiskExclude:        DefaultDiskExclude,
		NetDevExclude:      DefaultNetDevExclude,
		FSTypesExclude:     DefaultFSTypesExclude,
		MountPointsExclude: DefaultMountPointsExclude,
		NetstatFields:      DefaultNetstatFields,
		VmstatFields:       DefaultVmstatFields,
		MountTimeout:       DefaultMountTimeout,
	}
}

// Validate reports the first field that is out of range or does not
// compile, by name.
func (o Options) Validate() error {
	_, err := o.compile("/proc")
	return err
}

// compiled is Options with defaults applied and regexps compiled. A nil
// regexp matches nothing.
type compiled struct {
	diskExclude, netDevExclude, fsTypesExclude, mountPointsExclude *regexp.Regexp
	netstatFields, vmstatFields                                    *regexp.Regexp
	sysRoot, etcRoot                                               string
	mountTimeout                                                   time.Duration
}

func (o Options) compile(root string) (compiled, error) {
	d := DefaultOptions()
	pick := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	var c compiled
	for _, r := range []struct {
		field, expr string
		dst         **regexp.Regexp
	}{
		{"DiskExclude", pick(o.DiskExclude, d.DiskExclude), &c.diskExclude},
		{"NetDevExclude", pick(o.NetDevExclude, d.NetDevExclude), &c.netDevExclude},
		{"FSTypesExclude", pick(o.FSTypesExclude, d.FSTypesExclude), &c.fsTypesExclude},
		{"MountPointsExclude", pick(o.MountPointsExclude, d.MountPointsExclude), &c.mountPointsExclude},
		{"NetstatFields", pick(o.NetstatFields, d.NetstatFields), &c.netstatFields},
		{"VmstatFields", pick(o.VmstatFields, d.VmstatFields), &c.vmstatFields},
	} {
		if r.expr == "" {
			continue
		}
		re, err := regexp.Compile(r.expr)
		if err != nil {
			return c, fmt.Errorf("collect: options: %s %q is not a valid regular expression: %w", r.field, r.expr, err)
		}
		*r.dst = re
	}
	c.mountTimeout = o.MountTimeout
	switch {
	case c.mountTimeout == 0:
		c.mountTimeout = d.MountTimeout
	case c.mountTimeout < 10*time.Millisecond || c.mountTimeout > time.Minute:
		return c, fmt.Errorf("collect: options: MountTimeout %v out of range: want 0 (default %v) or 10ms to 1m", o.MountTimeout, d.MountTimeout)
	}
	c.sysRoot = o.SysRoot
	if c.sysRoot == "" {
		c.sysRoot = filepath.Join(filepath.Dir(filepath.Clean(root)), "sys")
	}
	c.etcRoot = o.EtcRoot
	if c.etcRoot == "" {
		c.etcRoot = filepath.Join(filepath.Dir(filepath.Clean(root)), "etc")
	}
	return c, nil
}

// matches reports whether re (nil matches nothing) matches s.
func matches(re *regexp.Regexp, s string) bool { return re != nil && re.MatchString(s) }
