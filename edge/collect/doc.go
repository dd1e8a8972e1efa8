// Package collect reads a host's /proc (and /sys) and turns what it finds
// into samples of named, labelled series.
//
// # Types
//
// A [Collector] reads one source and reports values through an [Emitter].
// The Emitter interns every (name, labels) pair once in a [Registry], which
// hands out small numeric series ids, and appends queue.Sample values to a
// reusable slice. A [Set] runs all configured collectors once per tick and
// counts the sources that failed; a failing or missing source is skipped
// and the others go on. A source that is legitimately absent on a host
// (PSI before Linux 4.20, hwmon in a VM) returns [ErrNoData], which is
// logged at debug level and not counted.
//
// [Default] and [DefaultWith] build the standard set over a procfs root;
// [Options] (plain data with YAML tags, zero value = defaults, Validate
// names the bad field) hold node_exporter's device, mount and field
// filters and the sysfs root.
//
// # Sources
//
// One file per source, named after what it reads, each with a pure
// parseX(io.Reader) tested against the fixture trees testdata/proc and
// testdata/sys:
//
//	stat_linux.go        /proc/stat          node_cpu_seconds_total, node_cpu_guest_seconds_total, node_intr_total,
//	                                         node_context_switches_total, node_forks_total, node_boot_time_seconds,
//	                                         node_procs_running, node_procs_blocked
//	meminfo_linux.go     /proc/meminfo       node_memory_<Field>_bytes
//	loadavg_linux.go     /proc/loadavg       node_load1, node_load5, node_load15
//	vmstat_linux.go      /proc/vmstat        node_vmstat_<field> (Options.VmstatFields)
//	pressure_linux.go    /proc/pressure/*    node_pressure_{cpu,memory,io}_waiting_seconds_total, …_stalled_seconds_total
//	diskstats_linux.go   /proc/diskstats     node_disk_*{device}, node_disk_info (Options.DiskExclude)
//	netdev_linux.go      /proc/net/dev       node_network_{receive,transmit}_*_total{device} (Options.NetDevExclude)
//	netstat_linux.go     /proc/net/netstat, snmp, snmp6
//	                                         node_netstat_<Proto>_<Field> (Options.NetstatFields)
//	sockstat_linux.go    /proc/net/sockstat{,6}
//	                                         node_sockstat_sockets_used, node_sockstat_<PROTO>_<field>
//	filefd_linux.go      /proc/sys/fs/file-nr node_filefd_allocated, node_filefd_maximum
//	filesystem_linux.go  /proc/mounts + statfs
//	                                         node_filesystem_*{device,fstype,mountpoint} (Options.FSTypesExclude,
//	                                         MountPointsExclude, MountTimeout)
//	processes_linux.go   /proc/[pid]/stat    node_processes_state{state}, node_processes_{pids,threads,max_processes,max_threads}
//	hwmon_linux.go       /sys/class/hwmon    node_hwmon_temp_celsius{chip,sensor}, node_hwmon_chip_names
//	uname_linux.go       /proc/sys/kernel/{ostype,hostname,domainname,osrelease,version,arch}
//	                                         node_uname_info{domainname,machine,nodename,release,sysname,version}
//	osrelease.go         /etc/os-release     node_os_info{…}, node_os_version{id,id_like,name} (Options.EtcRoot)
//	time.go              the sample's time   node_time_seconds, node_time_zone_offset_seconds{time_zone}
//	timex_linux.go       adjtimex(2)         node_timex_* (17 series, node_exporter's units)
//	netclass_linux.go    /sys/class/net/*    node_network_{up,carrier,mtu_bytes,speed_bytes,transmit_queue_length,info},
//	                                         node_network_{carrier_changes,receive_nohandler}_total{device}
//	arp_linux.go         /proc/net/arp       node_arp_entries{device}
//	conntrack_linux.go   /proc/sys/net/netfilter/nf_conntrack_{count,max}
//	                                         node_nf_conntrack_entries, node_nf_conntrack_entries_limit
//	softnet_linux.go     /proc/net/softnet_stat
//	                                         node_softnet_{processed,dropped,times_squeezed}_total{cpu}
//	udpqueues_linux.go   /proc/net/udp{,6}   node_udp_queues{ip,queue}
//	entropy_linux.go     /proc/sys/kernel/random
//	                                         node_entropy_available_bits, node_entropy_pool_size_bits
//	textfile.go          <dir>/*.prom        the files' samples, node_textfile_mtime_seconds{file},
//	                                         node_textfile_scrape_error (Options.TextfileDirectory)
//	self_linux.go        /proc/self          process_{cpu_seconds_total,open_fds,max_fds,virtual_memory_bytes,
//	                                         virtual_memory_max_bytes,resident_memory_bytes,start_time_seconds}
//
// The Set reports node_scrape_collector_success{collector} and
// node_scrape_collector_duration_seconds{collector} (the minute's mean run
// time, moved only past 25 % and rounded to 3 significant bits, so it
// costs the uplink almost nothing). A Registry can give every series
// target labels (SetTargetLabels: the agent's job). node_procs_running
// leaves out the agent's own running threads beyond the reader
// (selftasks_linux.go): the agent reads on the tick its goroutines wake on.
//
// Metric names, labels and units follow node_exporter's wherever it has the
// same quantity, so existing dashboards carry over. Monotonic quantities
// are reported as counters (including node_exporter's untyped vmstat and
// netstat event counts, so rollups turn them into rates); current amounts
// as gauges.
//
// # Cost
//
// Collection runs every second, so a steady cycle allocates nothing: files
// are read with raw openat/read/close (readfile_linux.go) into buffers kept
// from cycle to cycle, parsers slice those buffers in place, label strings
// and metric names are built once per device, mount or field and cached
// (entries unseen for a few minutes are dropped), and the pids of
// /proc are listed with getdents into a reused buffer. The exceptions are
// statfs on network filesystems (a goroutine and timer per mount, so a hung
// server cannot stall the loop) and the periodic hwmon rescan.
// BenchmarkCollectFixture and BenchmarkCollectProc measure a full cycle.
// prometheus/procfs is used only by the small sources where its parsers
// save code (arp, softnet, udp_queues, process) and netclass reads sysfs
// attributes with os.ReadFile: those allocate on every read, within the
// bounds TestSteadyCycleDoesNotAllocate states. uname and os re-read
// their files once a minute.
//
// Most of a cycle's cost is the kernel building /proc and /sys files. The
// two dearest sources are read less often and their last values repeated
// in between ([Every], every.go): processes every 5 cycles (one
// /proc/[pid]/stat per process) and netclass every 10 (~15 sysfs files per
// interface). The agent's own process_* source reads its start time once
// and its limits once a minute.
//
// # Concurrency
//
// A Set, its collectors, Emitter and Registry are used by one goroutine (the
// collection loop). Registry.Desc may be called concurrently with
// interning. The filesystem collector's statfs goroutines touch only their
// own result and the mount's stuck flag.
//
// # Platform and imports
//
// The collectors are Linux-only (the package targets linux/amd64, arm64
// and armv7). collect must not import the aggregator, NATS, Redis or
// Badger.
package collect
