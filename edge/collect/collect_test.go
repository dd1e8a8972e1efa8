package collect

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/edgepulse/edgepulse/codec"
)

const fixtureRoot = "testdata/proc"

// collectOnce runs the default set over root and returns the value of
// every series by its Prometheus rendering.
func collectOnce(t *testing.T, root string) (map[string]float64, *Set) {
	t.Helper()
	got, _, set := collectWith(t, root, Options{})
	return got, set
}

// collectWith runs the set built with opts over root once and returns each
// series' value and kind by its Prometheus rendering.
func collectWith(t *testing.T, root string, opts Options) (map[string]float64, map[string]codec.Kind, *Set) {
	t.Helper()
	set, err := DefaultWith(slog.New(slog.NewTextHandler(os.Stderr, nil)), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(0)
	e := NewEmitter(reg)
	e.Reset(1000)
	set.Collect(e)
	got := make(map[string]float64)
	kinds := make(map[string]codec.Kind)
	for _, s := range e.Samples() {
		if s.TS != 1000 {
			t.Fatalf("sample ts %d, want 1000", s.TS)
		}
		d := reg.Desc(s.Series)
		k := d.String()
		if _, dup := got[k]; dup {
			t.Errorf("series %s emitted twice in one cycle", k)
		}
		got[k] = s.Value
		kinds[k] = d.Kind
	}
	return got, kinds, set
}

// fixtureWant holds exact values for a few series of every source on the
// fixture tree; the comments show the arithmetic from the fixture files.
var fixtureWant = []struct {
	source string
	series string
	value  float64
	kind   codec.Kind
}{
	{"loadavg", `node_load1`, 1.25, codec.Gauge},
	{"uname", `node_uname_info{domainname="(none)",machine="x86_64",nodename="fixture-host",release="6.1.0-13-amd64",sysname="Linux",version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)"}`, 1, codec.Gauge},
	{"os", `node_os_info{build_id="",id="debian",id_like="",image_id="",image_version="",name="Debian GNU/Linux",pretty_name="Debian GNU/Linux 12 (bookworm)",variant="",variant_id="",version="12 (bookworm)",version_codename="bookworm",version_id="12"}`, 1, codec.Gauge},
	{"os", `node_os_version{id="debian",id_like="",name="Debian GNU/Linux"}`, 12, codec.Gauge},
	{"time", `node_time_seconds`, 1, codec.Gauge}, // the sample's time, 1000 ms
	{"netclass", `node_network_up{device="eth0"}`, 1, codec.Gauge},
	{"netclass", `node_network_up{device="lo"}`, 0, codec.Gauge}, // operstate unknown
	{"netclass", `node_network_carrier{device="eth0"}`, 1, codec.Gauge},
	{"netclass", `node_network_mtu_bytes{device="lo"}`, 65536, codec.Gauge},
	{"netclass", `node_network_speed_bytes{device="eth0"}`, 125_000_000, codec.Gauge}, // 1000 Mbit/s
	{"netclass", `node_network_transmit_queue_length{device="eth0"}`, 1000, codec.Gauge},
	{"netclass", `node_network_carrier_changes_total{device="eth0"}`, 4, codec.Counter},
	{"netclass", `node_network_receive_nohandler_total{device="eth0"}`, 9, codec.Counter},
	{"netclass", `node_network_info{address="52:54:00:12:34:56",broadcast="ff:ff:ff:ff:ff:ff",device="eth0",duplex="full",ifalias="",operstate="up"}`, 1, codec.Gauge},
	{"arp", `node_arp_entries{device="eth0"}`, 2, codec.Gauge},
	{"arp", `node_arp_entries{device="wlan0"}`, 1, codec.Gauge},
	{"conntrack", `node_nf_conntrack_entries`, 187, codec.Gauge},
	{"conntrack", `node_nf_conntrack_entries_limit`, 262144, codec.Gauge},
	{"softnet", `node_softnet_processed_total{cpu="1"}`, 0xdfb82, codec.Counter},
	{"softnet", `node_softnet_dropped_total{cpu="1"}`, 2, codec.Counter},
	{"softnet", `node_softnet_times_squeezed_total{cpu="0"}`, 1, codec.Counter},
	{"udp_queues", `node_udp_queues{ip="v4",queue="tx"}`, 0x100, codec.Gauge},
	{"udp_queues", `node_udp_queues{ip="v4",queue="rx"}`, 0x200, codec.Gauge},
	{"entropy", `node_entropy_available_bits`, 3, codec.Gauge},
	{"entropy", `node_entropy_pool_size_bits`, 256, codec.Gauge},
	{"textfile", `node_textfile_scrape_error`, 0, codec.Gauge},
	{"process", `process_max_fds`, 1024, codec.Gauge},
	{"process", `process_open_fds`, 3, codec.Gauge},
	{"process", `process_virtual_memory_max_bytes`, -1, codec.Gauge},     // unlimited
	{"process", `process_cpu_seconds_total`, 0.12, codec.Counter},        // stime 12 jiffies
	{"process", `process_start_time_seconds`, 1700000000.3, codec.Gauge}, // btime + starttime 30 jiffies
	{"meminfo", `node_scrape_collector_success{collector="meminfo"}`, 1, codec.Gauge},
	{"meminfo", `node_scrape_collector_success{collector="pressure"}`, 1, codec.Gauge},
	{"loadavg", `node_load5`, 0.75, codec.Gauge},
	{"loadavg", `node_load15`, 0.5, codec.Gauge},
	{"stat", `node_cpu_seconds_total{cpu="0",mode="user"}`, 150, codec.Counter}, // 15000 jiffies / USER_HZ 100
	{"stat", `node_cpu_seconds_total{cpu="1",mode="idle"}`, 2500, codec.Counter},
	{"stat", `node_cpu_seconds_total{cpu="1",mode="system"}`, 101, codec.Counter},
	{"stat", `node_cpu_seconds_total{cpu="0",mode="softirq"}`, 2, codec.Counter},
	{"stat", `node_cpu_guest_seconds_total{cpu="0",mode="user"}`, 0, codec.Counter},
	{"stat", `node_intr_total`, 123456, codec.Counter},
	{"stat", `node_context_switches_total`, 987654, codec.Counter},
	{"stat", `node_forks_total`, 4321, codec.Counter},
	{"stat", `node_boot_time_seconds`, 1700000000, codec.Gauge},
	{"stat", `node_procs_running`, 2, codec.Gauge}, // 3, less the agent's own second running thread (self → 42, task 42 and 43 in state R)
	{"stat", `node_procs_blocked`, 1, codec.Gauge},
	{"meminfo", `node_memory_MemTotal_bytes`, 8000000 * 1024, codec.Gauge},
	{"meminfo", `node_memory_MemAvailable_bytes`, 4000000 * 1024, codec.Gauge},
	{"meminfo", `node_memory_Active_anon_bytes`, 2000000 * 1024, codec.Gauge},
	{"meminfo", `node_memory_HugePages_Total`, 0, codec.Gauge},
	{"vmstat", `node_vmstat_pgpgin`, 2498661, codec.Counter},
	{"vmstat", `node_vmstat_pswpout`, 34, codec.Counter},
	{"vmstat", `node_vmstat_pgmajfault`, 7697, codec.Counter},
	{"vmstat", `node_vmstat_oom_kill`, 3, codec.Counter},
	{"pressure", `node_pressure_cpu_waiting_seconds_total`, 1186.609197, codec.Counter}, // total=1186609197 µs
	{"pressure", `node_pressure_cpu_stalled_seconds_total`, 0, codec.Counter},
	{"pressure", `node_pressure_memory_waiting_seconds_total`, 17.471085, codec.Counter},
	{"pressure", `node_pressure_memory_stalled_seconds_total`, 7.938461, codec.Counter},
	{"pressure", `node_pressure_io_waiting_seconds_total`, 2.5, codec.Counter},
	{"pressure", `node_pressure_io_stalled_seconds_total`, 1.25, codec.Counter},
	{"diskstats", `node_disk_reads_completed_total{device="vda"}`, 147201, codec.Counter},
	{"diskstats", `node_disk_read_bytes_total{device="vda"}`, 4962434 * 512, codec.Counter},
	{"diskstats", `node_disk_read_time_seconds_total{device="vda"}`, 181.744, codec.Counter}, // 181744 ms
	{"diskstats", `node_disk_written_bytes_total{device="vda"}`, 4943600 * 512, codec.Counter},
	{"diskstats", `node_disk_io_now{device="nvme0n1"}`, 2, codec.Gauge},
	{"diskstats", `node_disk_io_time_seconds_total{device="vda"}`, 19.3, codec.Counter},
	{"diskstats", `node_disk_discards_completed_total{device="vda"}`, 24723, codec.Counter},
	{"diskstats", `node_disk_flush_requests_total{device="nvme0n1"}`, 100, codec.Counter},
	{"diskstats", `node_disk_writes_completed_total{device="sda"}`, 3000, codec.Counter}, // 11-column line
	{"diskstats", `node_disk_info{device="dm-0",major="252",minor="0"}`, 1, codec.Gauge},
	{"netdev", `node_network_receive_bytes_total{device="eth0"}`, 198516244, codec.Counter},
	{"netdev", `node_network_receive_drop_total{device="eth0"}`, 7, codec.Counter},
	{"netdev", `node_network_receive_multicast_total{device="eth0"}`, 42, codec.Counter},
	{"netdev", `node_network_transmit_carrier_total{device="eth0"}`, 1, codec.Counter},
	{"netdev", `node_network_transmit_packets_total{device="lo"}`, 3506, codec.Counter},
	{"netdev", `node_network_receive_bytes_total{device="wlan0"}`, 123456789, codec.Counter}, // "wlan0:123…" without a space
	{"netstat", `node_netstat_Tcp_RetransSegs`, 27, codec.Counter},
	{"netstat", `node_netstat_Tcp_InErrs`, 4, codec.Counter},
	{"netstat", `node_netstat_Tcp_OutRsts`, 41, codec.Counter},
	{"netstat", `node_netstat_Tcp_ActiveOpens`, 159, codec.Counter},
	{"netstat", `node_netstat_Tcp_PassiveOpens`, 63, codec.Counter},
	{"netstat", `node_netstat_Tcp_CurrEstab`, 5, codec.Gauge},
	{"netstat", `node_netstat_Udp_InDatagrams`, 71, codec.Counter},
	{"netstat", `node_netstat_Udp_InErrors`, 2, codec.Counter},
	{"netstat", `node_netstat_Udp_NoPorts`, 6, codec.Counter},
	{"netstat", `node_netstat_TcpExt_ListenDrops`, 19, codec.Counter},
	{"netstat", `node_netstat_TcpExt_ListenOverflows`, 17, codec.Counter},
	{"netstat", `node_netstat_TcpExt_TCPTimeouts`, 13, codec.Counter},
	{"netstat", `node_netstat_IpExt_InOctets`, 199361741, codec.Counter},
	{"netstat", `node_netstat_Ip_Forwarding`, 2, codec.Gauge},
	{"netstat", `node_netstat_Ip6_OutOctets`, 880, codec.Counter},
	{"netstat", `node_netstat_Udp6_OutDatagrams`, 4, codec.Counter},
	{"sockstat", `node_sockstat_sockets_used`, 13, codec.Gauge},
	{"sockstat", `node_sockstat_TCP_inuse`, 1, codec.Gauge},
	{"sockstat", `node_sockstat_TCP_tw`, 9, codec.Gauge},
	{"sockstat", `node_sockstat_TCP_alloc`, 2, codec.Gauge},
	{"sockstat", `node_sockstat_TCP_mem`, 49, codec.Gauge},
	{"sockstat", `node_sockstat_TCP_mem_bytes`, float64(49 * os.Getpagesize()), codec.Gauge},
	{"sockstat", `node_sockstat_UDP_inuse`, 3, codec.Gauge},
	{"sockstat", `node_sockstat_TCP6_inuse`, 4, codec.Gauge},
	{"filefd", `node_filefd_allocated`, 448, codec.Gauge},
	{"filefd", `node_filefd_maximum`, 2466180, codec.Gauge},
	{"filesystem", `node_filesystem_device_error{device="/dev/vda",fstype="ext4",mountpoint="/"}`, 0, codec.Gauge},
	{"filesystem", `node_filesystem_readonly{device="/dev/vda",fstype="ext4",mountpoint="/"}`, 0, codec.Gauge},
	{"filesystem", `node_filesystem_device_error{device="/dev/vdc",fstype="ext4",mountpoint="/nonexistent/edgepulse fixture"}`, 1, codec.Gauge},
	{"processes", `node_processes_state{state="S"}`, 3, codec.Gauge},
	{"processes", `node_processes_state{state="R"}`, 1, codec.Gauge}, // "300 (my (odd) prog) R …"
	{"processes", `node_processes_state{state="D"}`, 1, codec.Gauge},
	{"processes", `node_processes_state{state="Z"}`, 1, codec.Gauge},
	{"processes", `node_processes_state{state="I"}`, 1, codec.Gauge},
	{"processes", `node_processes_state{state="T"}`, 0, codec.Gauge},
	{"processes", `node_processes_pids`, 7, codec.Gauge},
	{"processes", `node_processes_threads`, 21, codec.Gauge}, // 1+1+1+12+4+1+1
	{"processes", `node_processes_max_processes`, 32768, codec.Gauge},
	{"processes", `node_processes_max_threads`, 192731, codec.Gauge},
	{"hwmon", `node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp1"}`, 45, codec.Gauge},
	{"hwmon", `node_hwmon_temp_celsius{chip="platform_coretemp_0",sensor="temp2"}`, 47.5, codec.Gauge},
	{"hwmon", `node_hwmon_temp_celsius{chip="acpitz",sensor="temp1"}`, 27.8, codec.Gauge},
	{"hwmon", `node_hwmon_chip_names{chip="platform_coretemp_0",chip_name="coretemp"}`, 1, codec.Gauge},
}

// fixtureAbsent are series the default filters must drop on the fixture.
var fixtureAbsent = []string{
	`node_disk_info{device="vda1",major="254",minor="1"}`,                        // partition
	`node_disk_info{device="nvme0n1p1",major="259",minor="1"}`,                   // partition
	`node_disk_info{device="loop0",major="7",minor="0"}`,                         // loop
	`node_disk_info{device="zram0",major="253",minor="0"}`,                       // zram
	`node_disk_discards_completed_total{device="sda"}`,                           // sda has 11 columns: no discards
	`node_vmstat_nr_free_pages`,                                                  // not in the default field set
	`node_vmstat_pgfree`,                                                         //
	`node_netstat_TcpExt_DelayedACKs`,                                            //
	`node_netstat_Tcp_MaxConn`,                                                   //
	`node_pressure_irq_stalled_seconds_total`,                                    // no irq file in the fixture
	`node_filesystem_size_bytes{device="/dev/vdb",fstype="ext4",mountpoint="/"}`, // over-mounted by /dev/vda
	`node_filesystem_device_error{device="proc",fstype="proc",mountpoint="/proc"}`,
	`node_filesystem_device_error{device="tmpfs",fstype="tmpfs",mountpoint="/dev/shm"}`,
	`node_filesystem_device_error{device="cgroup2",fstype="cgroup2",mountpoint="/sys/fs/cgroup"}`,
	`node_filesystem_device_error{device="overlay",fstype="overlay",mountpoint="/var/lib/docker/overlay2/0f3c/merged"}`,
	`node_hwmon_chip_names{chip="nct6775",chip_name="nct6775"}`, // a fan, no temperature
}

func TestDefaultOnFixture(t *testing.T) {
	got, kinds, set := collectWith(t, fixtureRoot, Options{})
	seen := make(map[string]bool)
	for _, w := range fixtureWant {
		seen[w.source] = true
		g, ok := got[w.series]
		if !ok {
			t.Errorf("%s: series %s missing", w.source, w.series)
			continue
		}
		if math.Abs(g-w.value) > 1e-9*math.Abs(w.value) {
			t.Errorf("%s: %s = %v, want %v", w.source, w.series, g, w.value)
		}
		if kinds[w.series] != w.kind {
			t.Errorf("%s: %s kind %v, want %v", w.source, w.series, kinds[w.series], w.kind)
		}
	}
	for _, name := range set.Names() {
		if !seen[name] && name != "timex" { // adjtimex(2), not a file: TestTimex
			t.Errorf("source %s has no expected values in fixtureWant", name)
		}
	}
	for _, k := range fixtureAbsent {
		if _, ok := got[k]; ok {
			t.Errorf("series %s should have been filtered out", k)
		}
	}
	if _, ok := got[`node_disk_io_now{device="sda"}`]; !ok {
		t.Errorf("sda (whole disk, 11 columns) missing")
	}
	for name, n := range set.Failures() {
		if n != 0 {
			t.Errorf("source %s failed %d times on the fixture", name, n)
		}
	}
}

func TestMissingSourceIsCountedAndOthersGoOn(t *testing.T) {
	root := t.TempDir()
	b, err := os.ReadFile(fixtureRoot + "/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root+"/loadavg", b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, set := collectOnce(t, root)
	if got["node_load1"] != 1.25 {
		t.Fatalf("loadavg not collected when other sources are missing: %v", got)
	}
	f := set.Failures()
	if f["stat"] != 1 || f["meminfo"] != 1 || f["loadavg"] != 0 {
		t.Fatalf("failures = %v, want stat and meminfo counted once", f)
	}
}

func TestParseMeminfoErrors(t *testing.T) {
	for _, in := range []string{"MemTotal 12 kB\n", "MemTotal: x kB\n", "MemTotal: 1 MB\n", "MemTotal:\n"} {
		err := parseMeminfo(strings.NewReader(in), func([]byte, float64) {})
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseMeminfo(%q) = %v, want an error naming line 1", in, err)
		}
	}
}

func TestCardinalityLimit(t *testing.T) {
	reg := NewRegistry(2)
	e := NewEmitter(reg)
	e.Reset(1)
	e.Gauge("a", 1)
	e.Gauge("b", 1)
	e.Gauge("c", 1)
	e.Gauge("a", 2)
	if len(e.Samples()) != 3 || reg.Rejected() != 1 || reg.Len() != 2 {
		t.Fatalf("samples %d rejected %d len %d; want 3, 1, 2", len(e.Samples()), reg.Rejected(), reg.Len())
	}
}

func TestLabelsSortedAndInternedOnce(t *testing.T) {
	reg := NewRegistry(0)
	e := NewEmitter(reg)
	e.Reset(1)
	e.Gauge("m", 1, "z", "1", "a", "2")
	e.Gauge("m", 2, "z", "1", "a", "2")
	if reg.Len() != 1 {
		t.Fatalf("registry has %d series, want 1", reg.Len())
	}
	if got := reg.Desc(0).String(); got != `m{a="2",z="1"}` {
		t.Fatalf("desc = %s", got)
	}
}

// BenchmarkCollectFixture is one full default cycle over the fixture tree
// (series interned and caches warm before timing).
func BenchmarkCollectFixture(b *testing.B) {
	benchSet(b, fixtureRoot)
}

// TestSweepBoundsChurn: series that stop reporting are forgotten, their
// ids are not reused, and the limit counts only live series.
func TestSweepBoundsChurn(t *testing.T) {
	reg := NewRegistry(3)
	e := NewEmitter(reg)
	for ts := int64(1); ts <= 100; ts++ {
		gone := reg.Sweep(ts*1000 - 1500) // forget what was not seen in the last 1.5 s
		e.Reset(ts * 1000)
		e.Gauge("node_network_up", 1, "device", "lo")
		e.Gauge("node_network_up", 1, "device", fmt.Sprintf("veth%d", ts)) // a new interface every second
		if reg.Len() > 3 {
			t.Fatalf("t=%d: %d live series, limit 3", ts, reg.Len())
		}
		for _, id := range gone {
			if reg.Desc(id) != nil {
				t.Fatalf("swept id %d still resolves", id)
			}
		}
	}
	if reg.Rejected() != 0 {
		t.Fatalf("%d samples refused although old series were swept", reg.Rejected())
	}
	if reg.Swept() < 97 {
		t.Fatalf("swept %d series, want ≥ 97", reg.Swept())
	}
	ids := map[uint32]bool{}
	reg.Sweep(200_000)
	e.Reset(200_000)
	e.Gauge("node_network_up", 1, "device", "veth1") // comes back: a new id
	for _, s := range e.Samples() {
		ids[s.Series] = true
	}
	if ids[1] {
		t.Fatal("a returning series reused a swept id")
	}
}
