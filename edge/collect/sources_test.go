package collect

import (
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"golang.org/x/sys/unix"
)

// collectOne runs c once and returns its series by rendering.
func collectOne(t *testing.T, c Collector) (map[string]float64, error) {
	t.Helper()
	reg := NewRegistry(0)
	e := NewEmitter(reg)
	e.Reset(1)
	err := c.Collect(e)
	got := make(map[string]float64)
	for _, s := range e.Samples() {
		got[reg.Desc(s.Series).String()] = s.Value
	}
	return got, err
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOptionalSourcesMissing(t *testing.T) {
	empty := t.TempDir()
	for _, c := range []Collector{NewPressureCollector(empty), NewHwmonCollector(filepath.Join(empty, "sys"))} {
		got, err := collectOne(t, c)
		if !errors.Is(err, ErrNoData) || len(got) != 0 {
			t.Errorf("%s on an empty tree: %v, %d series; want ErrNoData and none", c.Name(), err, len(got))
		}
	}
	// A hwmon directory with chips but no temperature sensors is no data too.
	sys := t.TempDir()
	writeFile(t, sys+"/class/hwmon/hwmon0/fan1_input", "1200\n")
	if _, err := collectOne(t, NewHwmonCollector(sys)); !errors.Is(err, ErrNoData) {
		t.Errorf("hwmon without temp sensors: %v, want ErrNoData", err)
	}
	// snmp6 and sockstat6 are optional (IPv6 off): the v4 files alone are fine.
	root := t.TempDir()
	for _, f := range []string{"net/netstat", "net/snmp", "net/sockstat"} {
		b, err := os.ReadFile(filepath.Join(fixtureRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(root, f), string(b))
	}
	ns, err := collectOne(t, NewNetstatCollector(root, regexp.MustCompile(DefaultNetstatFields)))
	if err != nil || ns["node_netstat_Tcp_RetransSegs"] != 27 {
		t.Errorf("netstat without snmp6: %v, RetransSegs %v", err, ns["node_netstat_Tcp_RetransSegs"])
	}
	if _, ok := ns["node_netstat_Ip6_InOctets"]; ok {
		t.Errorf("netstat reported Ip6 fields without snmp6")
	}
	ss, err := collectOne(t, NewSockstatCollector(root))
	if err != nil || ss["node_sockstat_TCP_tw"] != 9 {
		t.Errorf("sockstat without sockstat6: %v, TCP_tw %v", err, ss["node_sockstat_TCP_tw"])
	}
}

func TestRequiredSourcesMissingAreCounted(t *testing.T) {
	_, set := collectOnce(t, t.TempDir())
	f := set.Failures()
	for _, name := range []string{"stat", "meminfo", "loadavg", "vmstat", "diskstats", "netdev", "netstat", "sockstat", "filefd", "filesystem"} {
		if f[name] != 1 {
			t.Errorf("%s failures = %d on an empty tree, want 1", name, f[name])
		}
	}
	// no data, not failures; processes just finds no pids
	for _, name := range []string{"pressure", "hwmon", "processes"} {
		if f[name] != 0 {
			t.Errorf("%s failures = %d on an empty tree, want 0", name, f[name])
		}
	}
}

func TestFailureCountedPerCycle(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root+"/loadavg", "1 2\n") // malformed
	set, err := Default(slog.New(slog.DiscardHandler), root)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEmitter(NewRegistry(0))
	for range 3 {
		e.Reset(1)
		set.Collect(e)
	}
	if n := set.Failures()["loadavg"]; n != 3 {
		t.Fatalf("loadavg failures = %d after 3 cycles, want 3", n)
	}
}

func TestOptionsValidateNamesField(t *testing.T) {
	for _, tc := range []struct {
		o     Options
		field string
	}{
		{Options{DiskExclude: "("}, "DiskExclude"},
		{Options{NetDevExclude: "[z-a]"}, "NetDevExclude"},
		{Options{FSTypesExclude: "*"}, "FSTypesExclude"},
		{Options{MountPointsExclude: "("}, "MountPointsExclude"},
		{Options{NetstatFields: "("}, "NetstatFields"},
		{Options{VmstatFields: "("}, "VmstatFields"},
		{Options{MountTimeout: time.Millisecond}, "MountTimeout"},
		{Options{MountTimeout: time.Hour}, "MountTimeout"},
	} {
		err := tc.o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.o, err, tc.field)
		}
		if _, err := DefaultWith(slog.New(slog.DiscardHandler), fixtureRoot, tc.o); err == nil {
			t.Errorf("DefaultWith accepted %+v", tc.o)
		}
	}
	if err := (Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
	if err := DefaultOptions().Validate(); err != nil {
		t.Errorf("DefaultOptions: %v", err)
	}
	c, err := Options{}.compile("/host/proc")
	if err != nil || c.sysRoot != "/host/sys" {
		t.Errorf("sys root for /host/proc = %q, %v; want /host/sys", c.sysRoot, err)
	}
}

func TestOptionsChangeWhatIsReported(t *testing.T) {
	got, kinds, _ := collectWith(t, fixtureRoot, Options{
		DiskExclude:        "^$", // keep every device
		NetDevExclude:      "^(lo|wlan.*)$",
		VmstatFields:       ".*",
		NetstatFields:      "^Tcp_MaxConn$",
		FSTypesExclude:     "^proc$",
		MountPointsExclude: "^/nonexistent",
		SysRoot:            t.TempDir(), // no hwmon there
	})
	for k, want := range map[string]float64{
		`node_disk_reads_completed_total{device="vda1"}`:  146000,
		`node_disk_reads_completed_total{device="loop0"}`: 120,
		`node_vmstat_nr_free_pages`:                       3048576,
		`node_vmstat_thp_fault_alloc`:                     5,
		`node_netstat_Tcp_MaxConn`:                        -1,
		`node_network_receive_bytes_total{device="eth0"}`: 198516244,
	} {
		if got[k] != want {
			t.Errorf("%s = %v (present %v), want %v", k, got[k], hasKey(got, k), want)
		}
	}
	if kinds[`node_vmstat_nr_free_pages`] != codec.Gauge || kinds[`node_vmstat_thp_fault_alloc`] != codec.Counter {
		t.Errorf("vmstat kinds: nr_free_pages %v, thp_fault_alloc %v; want gauge, counter", kinds[`node_vmstat_nr_free_pages`], kinds[`node_vmstat_thp_fault_alloc`])
	}
	for _, k := range []string{
		`node_network_receive_bytes_total{device="lo"}`,
		`node_network_receive_bytes_total{device="wlan0"}`,
		`node_netstat_Tcp_RetransSegs`,
		`node_filesystem_device_error{device="/dev/vdc",fstype="ext4",mountpoint="/nonexistent/edgepulse fixture"}`,
		`node_hwmon_temp_celsius{chip="acpitz",sensor="temp1"}`,
	} {
		if hasKey(got, k) {
			t.Errorf("%s reported despite the options", k)
		}
	}
	// The mount point pattern replaced the default one, so /dev/shm (tmpfs,
	// not an excluded type) is reported now; /proc is still excluded by type.
	if !hasKey(got, `node_filesystem_device_error{device="tmpfs",fstype="tmpfs",mountpoint="/dev/shm"}`) {
		t.Errorf("/dev/shm not reported with MountPointsExclude replaced")
	}
	if hasKey(got, `node_filesystem_device_error{device="proc",fstype="proc",mountpoint="/proc"}`) {
		t.Errorf("/proc reported although its type is excluded")
	}
}

func hasKey(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

func TestStatCountersNeverGoBackwards(t *testing.T) {
	root := t.TempDir()
	c := NewStatCollector(root)
	step := func(line string) map[string]float64 {
		t.Helper()
		writeFile(t, root+"/stat", "cpu  0 0 0 0\n"+line+"\n")
		got, err := collectOne(t, c)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	idle := `node_cpu_seconds_total{cpu="0",mode="idle"}`
	iowait := `node_cpu_seconds_total{cpu="0",mode="iowait"}`
	user := `node_cpu_seconds_total{cpu="0",mode="user"}`
	step("cpu0 100 0 0 100000 500")
	got := step("cpu0 200 0 0 100100 450") // iowait went back 0.5 s: held
	if got[iowait] != 5 || got[user] != 2 || got[idle] != 1001 {
		t.Errorf("after small drop: iowait %v user %v idle %v; want 5, 2, 1001", got[iowait], got[user], got[idle])
	}
	got = step("cpu0 300 0 0 100200 600")
	if got[iowait] != 6 {
		t.Errorf("iowait = %v after it passed the held value, want 6", got[iowait])
	}
	got = step("cpu0 10 0 0 50 0") // idle fell by > 3 s: cpu was replugged, start afresh
	if got[idle] != 0.5 || got[user] != 0.1 {
		t.Errorf("after hotplug: idle %v user %v; want 0.5, 0.1", got[idle], got[user])
	}
}

func TestFilesystemAgainstStatfs(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	writeFile(t, root+"/mounts", "tmpfs "+strings.ReplaceAll(dir, " ", `\040`)+" ext4 ro,relatime 0 0\n")
	c := NewFilesystemCollector(root, nil, nil, time.Second)
	got, err := collectOne(t, c)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	lbl := `{device="tmpfs",fstype="ext4",mountpoint="` + dir + `"}`
	for name, want := range map[string]float64{
		"node_filesystem_size_bytes":   float64(st.Blocks) * float64(st.Bsize),
		"node_filesystem_files":        float64(st.Files),
		"node_filesystem_readonly":     1, // from the ro option
		"node_filesystem_device_error": 0,
	} {
		if got[name+lbl] != want || !hasKey(got, name+lbl) {
			t.Errorf("%s = %v, want %v", name+lbl, got[name+lbl], want)
		}
	}
	for _, name := range []string{"node_filesystem_free_bytes", "node_filesystem_avail_bytes", "node_filesystem_files_free"} {
		if v, ok := got[name+lbl]; !ok || v < 0 || v > got["node_filesystem_size_bytes"+lbl] && name != "node_filesystem_files_free" {
			t.Errorf("%s = %v (present %v)", name+lbl, v, ok)
		}
	}
	// A bind-mounted file (resolv.conf in a container) is a mount point too.
	file := filepath.Join(dir, "resolv.conf")
	writeFile(t, file, "nameserver 10.0.0.1\n")
	writeFile(t, root+"/mounts", "/dev/vda "+file+" ext4 rw 0 0\n")
	got, err = collectOne(t, c)
	if lbl := `{device="/dev/vda",fstype="ext4",mountpoint="` + file + `"}`; err != nil || got["node_filesystem_device_error"+lbl] != 0 || got["node_filesystem_size_bytes"+lbl] != float64(st.Blocks)*float64(st.Bsize) {
		t.Errorf("file mount point: %v %v", got, err)
	}
	// A network filesystem goes through the timeout path and reads the same.
	writeFile(t, root+"/mounts", "srv:/x "+dir+" nfs4 rw 0 0\n")
	got, err = collectOne(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if lbl := `{device="srv:/x",fstype="nfs4",mountpoint="` + dir + `"}`; got["node_filesystem_size_bytes"+lbl] != float64(st.Blocks)*float64(st.Bsize) || got["node_filesystem_readonly"+lbl] != 0 {
		t.Errorf("nfs4 mount via timeout path: %v", got)
	}
}

func TestProcessesSkipsVanishedAndRejectsMalformed(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root+"/10/stat", "10 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 1\n")
	if err := os.MkdirAll(root+"/11", 0o755); err != nil { // exited between listing and reading
		t.Fatal(err)
	}
	writeFile(t, root+"/self/stat", "not a pid dir\n")
	c := NewProcessesCollector(root)
	got, err := collectOne(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if got["node_processes_pids"] != 1 || got["node_processes_threads"] != 3 || got[`node_processes_state{state="S"}`] != 1 {
		t.Errorf("got %v", got)
	}
	if hasKey(got, "node_processes_max_processes") {
		t.Errorf("max_processes reported without sys/kernel/pid_max")
	}
	writeFile(t, root+"/12/stat", "12 (b) ? 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1\n") // unknown state letter
	got, err = collectOne(t, c)
	if err != nil || got[`node_processes_state{state="?"}`] != 1 || got[`node_processes_state{state="D"}`] != 0 {
		t.Errorf("unknown state: %v %v", got, err)
	}
	writeFile(t, root+"/13/stat", "13 (c) S 1\n")
	if _, err := collectOne(t, c); err == nil || !strings.Contains(err.Error(), "13/stat") {
		t.Errorf("malformed stat: %v, want an error naming 13/stat", err)
	}
}

func TestHwmonRescansWhenASensorVanishes(t *testing.T) {
	sys := t.TempDir()
	writeFile(t, sys+"/class/hwmon/hwmon0/name", "k10temp\n")
	writeFile(t, sys+"/class/hwmon/hwmon0/temp1_input", "51250\n")
	writeFile(t, sys+"/class/hwmon/hwmon0/temp2_input", "40000\n")
	c := NewHwmonCollector(sys)
	got, err := collectOne(t, c)
	if err != nil || got[`node_hwmon_temp_celsius{chip="k10temp",sensor="temp1"}`] != 51.25 || len(got) != 3 {
		t.Fatalf("got %v, %v", got, err)
	}
	if err := os.Remove(sys + "/class/hwmon/hwmon0/temp2_input"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sys+"/class/hwmon/hwmon1/name", "nvme\n")
	writeFile(t, sys+"/class/hwmon/hwmon1/temp1_input", "38850\n")
	if _, err := collectOne(t, c); err != nil { // notices temp2 is gone
		t.Fatal(err)
	}
	got, err = collectOne(t, c) // rescanned: temp2 gone, the new chip found
	if err != nil {
		t.Fatal(err)
	}
	if hasKey(got, `node_hwmon_temp_celsius{chip="k10temp",sensor="temp2"}`) || got[`node_hwmon_temp_celsius{chip="nvme",sensor="temp1"}`] != 38.85 {
		t.Errorf("after rescan: %v", got)
	}
}

func TestNameCachePrunesUnseen(t *testing.T) {
	var c nameCache[string]
	build := func(s string) string { return "x" + s }
	c.get([]byte("gone"), build)
	for range pruneEvery * 2 {
		if v := c.get([]byte("kept"), build); v != "xkept" {
			t.Fatalf("get = %q", v)
		}
		c.endCycle()
	}
	if c.len() != 1 {
		t.Fatalf("cache holds %d entries after the unseen one aged out, want 1", c.len())
	}
}

// allocatingCollectors read through prometheus/procfs or walk sysfs
// attribute files with os.ReadFile, which allocate on every read; each is
// bounded here (allocations per cycle on the fixture tree, which has two
// interfaces, two cpus and three ARP entries; they grow with those).
var allocatingCollectors = map[string]float64{"netclass": 160, "arp": 30, "softnet": 30, "udp_queues": 50, "process": 200}

// TestSteadyCycleDoesNotAllocate: after the first cycles have interned the
// series and cached the names, every collector reads and reports without
// allocating (on the fixture tree; network filesystems, which statfs in a
// goroutine, are the documented exception, and allocatingCollectors stay
// within their bound).
func TestSteadyCycleDoesNotAllocate(t *testing.T) {
	set, err := Default(slog.New(slog.DiscardHandler), fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEmitter(NewRegistry(0))
	for i, c := range set.collectors {
		for range 2 {
			e.Reset(1)
			if err := c.Collect(e); err != nil {
				t.Fatalf("%s: %v", c.Name(), err)
			}
		}
		if a := testing.AllocsPerRun(50, func() { e.Reset(1); _ = set.collectors[i].Collect(e) }); a > allocatingCollectors[c.Name()] {
			t.Errorf("%s allocates %.1f times per steady cycle, want at most %v", c.Name(), a, allocatingCollectors[c.Name()])
		}
	}
}

// TestTimex: adjtimex's fields become node_exporter's units (offset in
// µs without STA_NANO, ns with it; frequency in ppm·2^16).
func TestTimex(t *testing.T) {
	for _, tc := range []struct {
		status int32
		state  int
		offset float64
		sync   float64
	}{{0, 0, 0.0015, 1}, {staNano, 0, 0.0000015, 1}, {staUnsync, 0, 0.0015, 0}, {0, timeError, 0.0015, 0}} {
		c := &TimexCollector{read: func(tx *unix.Timex) (int, error) {
			*tx = unix.Timex{Offset: 1500, Freq: 65536 * 10, Status: tc.status, Tick: 10000, Maxerror: 250, Jitcnt: 7}
			return tc.state, nil
		}}
		got, err := collectOne(t, c)
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range map[string]float64{
			"node_timex_offset_seconds": tc.offset, "node_timex_sync_status": tc.sync,
			"node_timex_frequency_adjustment_ratio": 1.00001, "node_timex_tick_seconds": 0.01,
			"node_timex_maxerror_seconds": 0.00025, "node_timex_pps_jitter_total": 7,
		} {
			if g := got[k]; math.Abs(g-want) > 1e-12 {
				t.Errorf("status %#x state %d: %s = %v, want %v", tc.status, tc.state, k, g, want)
			}
		}
		if len(got) != 17 {
			t.Errorf("%d timex series, want node_exporter's 17", len(got))
		}
	}
	// The real syscall answers on this host.
	if _, err := collectOne(t, NewTimexCollector()); err != nil {
		t.Errorf("adjtimex on this host: %v", err)
	}
}

// TestScrapeDurationsStayPut: a collector's reported run time changes only
// on a minute boundary (so windows aligned to minutes are flat) and is
// rounded to three significant bits.
func TestScrapeDurationsStayPut(t *testing.T) {
	set, err := Default(slog.New(slog.DiscardHandler), fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(0)
	e := NewEmitter(reg)
	last := map[string]float64{}
	for sec := int64(0); sec < 180; sec++ {
		ts := 1_700_000_000_000 + sec*1000
		e.Reset(ts)
		set.Collect(e)
		for _, s := range e.Samples() {
			d := reg.Desc(s.Series)
			if d.Name != "node_scrape_collector_duration_seconds" {
				continue
			}
			k := d.String()
			if v, ok := last[k]; ok && v != s.Value && ts%60_000 != 0 {
				t.Fatalf("%s changed from %v to %v inside a minute (ts %d)", k, v, s.Value, ts)
			}
			if r := roundBits(s.Value, durationBits); r != s.Value || !(s.Value > 0) {
				t.Fatalf("%s = %v, not rounded to %d bits", k, s.Value, durationBits)
			}
			last[k] = s.Value
		}
	}
	for _, c := range []struct{ in, want float64 }{{0.000123, 0.0001220703125}, {1, 1}, {0.7, 0.75}, {3, 3}, {5.1, 5}, {0.9, 0.875}} {
		if g := roundBits(c.in, 3); g != c.want {
			t.Errorf("roundBits(%v, 3) = %v, want %v", c.in, g, c.want)
		}
	}
}

// TestRootGoneReportsNothing: without its procfs root the set reports no
// series at all (not even time, timex and scrape series, which need no
// file) and counts it; when the root is back, it reports again.
func TestRootGoneReportsNothing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "proc")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	set, err := Default(slog.New(slog.DiscardHandler), root)
	if err != nil {
		t.Fatal(err)
	}
	e := NewEmitter(NewRegistry(0))
	e.Reset(1000)
	set.Collect(e)
	if len(e.Samples()) == 0 {
		t.Fatal("an empty root reports the time and scrape series")
	}
	if err := os.Rename(root, root+".gone"); err != nil {
		t.Fatal(err)
	}
	e.Reset(2000)
	set.Collect(e)
	if n := len(e.Samples()); n != 0 || set.Failures()["procfs"] != 1 {
		t.Fatalf("root gone: %d samples, procfs failures %d; want 0 and 1", n, set.Failures()["procfs"])
	}
	if err := os.Rename(root+".gone", root); err != nil {
		t.Fatal(err)
	}
	e.Reset(3000)
	set.Collect(e)
	if len(e.Samples()) == 0 {
		t.Fatal("root back: nothing reported")
	}
}
