package collect

import (
	"fmt"
	"log/slog"
	"os"
)

// Default returns the standard collector set over the procfs tree at root
// (normally /proc) with default options.
func Default(log *slog.Logger, root string) (*Set, error) {
	return DefaultWith(log, root, Options{})
}

// DefaultWith returns the standard collector set over the procfs tree at
// root, configured by opts (zero fields take defaults), in this order:
// stat, meminfo, loadavg, vmstat, pressure, diskstats, netdev, netstat,
// sockstat, filefd, filesystem, processes, hwmon, then node_exporter's
// info and smaller sources: uname, os, time, timex, netclass, arp,
// conntrack, softnet, udp_queues, entropy, textfile and the agent's own
// process_* metrics.
func DefaultWith(log *slog.Logger, root string, opts Options) (*Set, error) {
	o, err := opts.compile(root)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("collect: procfs root %q: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("collect: procfs root %q is not a directory", root)
	}
	set := NewSet(log,
		NewStatCollector(root),
		NewMeminfoCollector(root),
		NewLoadavgCollector(root),
		NewVmstatCollector(root, o.vmstatFields),
		NewPressureCollector(root),
		NewDiskstatsCollector(root, o.diskExclude),
		NewNetDevCollector(root, o.netDevExclude),
		NewNetstatCollector(root, o.netstatFields),
		NewSockstatCollector(root),
		NewFilefdCollector(root),
		NewFilesystemCollector(root, o.fsTypesExclude, o.mountPointsExclude, o.mountTimeout),
		Every(NewProcessesCollector(root), processesEvery),
		NewHwmonCollector(o.sysRoot),
		NewUnameCollector(root),
		NewOSReleaseCollector(o.etcRoot),
		NewTimeCollector(nil),
		NewTimexCollector(),
		Every(NewNetClassCollector(o.sysRoot, o.netDevExclude), netClassEvery),
		NewArpCollector(root),
		NewConntrackCollector(root),
		NewSoftnetCollector(root),
		NewUDPQueuesCollector(root),
		NewEntropyCollector(root),
		NewTextfileCollector(opts.TextfileDirectory),
		NewSelfCollector(root),
	)
	set.root = root
	return set, nil
}
