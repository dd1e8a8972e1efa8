package collect

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// Parser tests: exact values from small inputs, and errors that name the
// line for inputs that do not have the kernel's shape.

func TestParseStat(t *testing.T) {
	in := "cpu  30100 10 20200 500000 300 0 400 0 0 0\n" +
		"cpu0 15000 5 10100 250000 150 0 200 7 300 40\n" +
		"cpu3 100 0 200 300\n" + // old kernel: 4 columns; an offline cpu1/cpu2 gap
		"intr 123456 0 9 0\n" +
		"ctxt 987654\nbtime 1700000000\nprocesses 4321\nprocs_running 3\nprocs_blocked 1\n" +
		"softirq 5555 0 1 2\n"
	var st procStat
	if err := parseStat(strings.NewReader(in), &st); err != nil {
		t.Fatal(err)
	}
	want := []cpuLine{
		{id: 0, t: cpuTimes{150, 0.05, 101, 2500, 1.5, 0, 2, 0.07, 3, 0.4}},
		{id: 3, t: cpuTimes{1, 0, 2, 3}},
	}
	if !slices.Equal(st.cpus, want) {
		t.Errorf("cpus = %v, want %v", st.cpus, want)
	}
	if st.intr != 123456 || st.ctxt != 987654 || st.btime != 1700000000 || st.forks != 4321 || st.running != 3 || st.blocked != 1 {
		t.Errorf("scalars = %+v", st)
	}
	if !st.hasIntr || !st.hasCtxt || !st.hasBtime || !st.hasForks || !st.hasRun || !st.hasBlocked {
		t.Errorf("presence = %+v", st)
	}
	// a second parse into the same struct forgets the first
	if err := parseStat(strings.NewReader("cpu0 1 2 3 4\n"), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.cpus) != 1 || st.hasIntr {
		t.Errorf("reparse kept old state: %+v", st)
	}
	for _, bad := range []string{"cpu0 1 x 3\n", "cpux 1 2 3\n", "ctxt\n", "intr 12a\n"} {
		if err := parseStat(strings.NewReader(bad), &st); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseStat(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

func TestParseLoadavg(t *testing.T) {
	l, err := parseLoadavg(strings.NewReader("10.74 5.10 3.32 17/420 31326\n"))
	if err != nil || l != [3]float64{10.74, 5.1, 3.32} {
		t.Fatalf("parseLoadavg = %v, %v", l, err)
	}
	for _, bad := range []string{"", "1.0 2.0\n", "1.0 x 3.0 1/2 3\n"} {
		if _, err := parseLoadavg(strings.NewReader(bad)); err == nil {
			t.Errorf("parseLoadavg(%q) succeeded", bad)
		}
	}
}

func TestParseKeyValues(t *testing.T) {
	got := map[string]float64{}
	err := parseKeyValues(strings.NewReader("nr_free_pages 3048576\npgfault 26775892\n\nIp6InOctets      \t128\n"), func(k []byte, v float64) { got[string(k)] = v })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"nr_free_pages": 3048576, "pgfault": 26775892, "Ip6InOctets": 128}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"pgfault\n", "pgfault 1 2\n", "pgfault x\n"} {
		if err := parseKeyValues(strings.NewReader(bad), func([]byte, float64) {}); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseKeyValues(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

func TestParsePressure(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want psi
	}{
		{"some avg10=0.00 avg60=0.00 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=2000000\n", psi{some: 0.012345, full: 2, hasSome: true, hasFull: true}},
		{"some avg10=96.90 avg60=88.61 avg300=48.08 total=1186609197\n", psi{some: 1186.609197, hasSome: true}}, // cpu before 5.13
		{"full avg10=0.00 avg60=0.00 avg300=0.00 total=7\n", psi{full: 7e-6, hasFull: true}},                    // irq
	} {
		got, err := parsePressure(strings.NewReader(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("parsePressure(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"some avg10=0.00\n", "half total=1\n", "some total=x\n"} {
		if _, err := parsePressure(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parsePressure(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

func TestParseDiskstats(t *testing.T) {
	in := " 254       0 vda 147201 21071 4962434 181744 22883 58539 4943600 20573 0 19300 208360 24723 2 2135112 5921 2167 120\n" +
		"   8       0 sda 9000 100 720000 12000 3000 50 240000 4000 0 11000 16000\n" +
		"   8       1 sdb 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n" // future columns are ignored
	type row struct {
		major, minor, dev string
		d                 diskLine
	}
	var got []row
	err := parseDiskstats(strings.NewReader(in), func(major, minor, dev []byte, d diskLine) {
		got = append(got, row{string(major), string(minor), string(dev), d})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d rows", len(got))
	}
	if r := got[0]; r.major != "254" || r.minor != "0" || r.dev != "vda" || r.d.n != 17 || r.d.v[2] != 4962434 || r.d.v[16] != 120 {
		t.Errorf("vda row = %+v", r)
	}
	if r := got[1]; r.dev != "sda" || r.d.n != 11 || r.d.v[10] != 16000 {
		t.Errorf("sda row = %+v", r)
	}
	if r := got[2]; r.d.n != 17 || r.d.v[16] != 17 {
		t.Errorf("sdb row = %+v", r)
	}
	for _, bad := range []string{"8 0 sda 1 2 3\n", "8 0\n", "8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n"} {
		if err := parseDiskstats(strings.NewReader(bad), func(_, _, _ []byte, _ diskLine) {}); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseDiskstats(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

func TestParseNetDev(t *testing.T) {
	b, err := os.ReadFile(fixtureRoot + "/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][16]float64{}
	if err := parseNetDev(strings.NewReader(string(b)), func(dev []byte, v [16]float64) { got[string(dev)] = v }); err != nil {
		t.Fatal(err)
	}
	want := map[string][16]float64{
		"lo":    {1005939, 3506, 0, 0, 0, 0, 0, 0, 1005939, 3506},
		"eth0":  {198516244, 11429, 3, 7, 0, 1, 0, 42, 1022844, 9509, 2, 5, 0, 0, 1, 0},
		"wlan0": {123456789, 98765, 0, 0, 0, 0, 0, 0, 2345678, 4567},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"h|\nh|\neth0: 1 2 3\n", "h|\nh|\neth0 1 2\n", "h|\nh|\neth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n"} {
		if err := parseNetDev(strings.NewReader(bad), func([]byte, [16]float64) {}); err == nil || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("parseNetDev(%q) = %v, want an error naming line 3", bad, err)
		}
	}
}

func TestParseNetstat(t *testing.T) {
	in := "Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 159\nIpExt: InOctets\nIpExt: 199361741\n"
	var got []string
	err := parseNetstat(strings.NewReader(in), func(proto, field []byte, v float64) {
		got = append(got, fmt.Sprintf("%s_%s=%v", proto, field, v))
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Tcp_RtoAlgorithm=1", "Tcp_MaxConn=-1", "Tcp_ActiveOpens=159", "IpExt_InOctets=1.99361741e+08"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, tc := range []struct{ in, line string }{
		{"Tcp: A B\nTcp: 1\n", "line 2"},       // fewer values than names
		{"Tcp: A B\nUdp: 1 2\n", "line 2"},     // protocols differ
		{"Tcp: A\nTcp: x\n", "line 2"},         // not a number
		{"Tcp: A\n", "line 2"},                 // no value line
		{"Tcp: A\nTcp: 1\nUdp: A\n", "line 4"}, // second pair cut short
	} {
		if err := parseNetstat(strings.NewReader(tc.in), func(_, _ []byte, _ float64) {}); err == nil || !strings.Contains(err.Error(), tc.line) {
			t.Errorf("parseNetstat(%q) = %v, want an error naming %s", tc.in, err, tc.line)
		}
	}
}

func TestParseSnmp6(t *testing.T) {
	var got []string
	err := parseSnmp6(strings.NewReader("Ip6InOctets 128\nIcmp6InMsgs 1\nUdpLite6InErrors 2\nWeird 3\n"), func(proto, field []byte, v float64) {
		got = append(got, fmt.Sprintf("%s_%s=%v", proto, field, v))
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Ip6_InOctets=128", "Icmp6_InMsgs=1", "UdpLite6_InErrors=2"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseSockstat(t *testing.T) {
	var got []string
	err := parseSockstat(strings.NewReader("sockets: used 13\nTCP: inuse 1 orphan 0 tw 9 alloc 2 mem 49\nFRAG6: inuse 0 memory 5\n"), func(proto, field []byte, v float64) {
		got = append(got, fmt.Sprintf("%s_%s=%v", proto, field, v))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sockets_used=13", "TCP_inuse=1", "TCP_orphan=0", "TCP_tw=9", "TCP_alloc=2", "TCP_mem=49", "FRAG6_inuse=0", "FRAG6_memory=5"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"TCP inuse 1\n", "TCP: inuse\n", "TCP: inuse x\n"} {
		if err := parseSockstat(strings.NewReader(bad), func(_, _ []byte, _ float64) {}); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("parseSockstat(%q) = %v, want an error naming line 1", bad, err)
		}
	}
}

func TestParseFileNr(t *testing.T) {
	a, m, err := parseFileNr(strings.NewReader("448\t0\t2466180\n"))
	if err != nil || a != 448 || m != 2466180 {
		t.Fatalf("parseFileNr = %v %v %v", a, m, err)
	}
	for _, bad := range []string{"448\t0\n", "x 0 1\n", "1 0 1 1\n"} {
		if _, _, err := parseFileNr(strings.NewReader(bad)); err == nil {
			t.Errorf("parseFileNr(%q) succeeded", bad)
		}
	}
}

func TestParseMountsAndUnescape(t *testing.T) {
	in := "/dev/vda / ext4 rw,relatime 0 0\n\n/dev/vdc /mnt/a\\040b ext4 ro 0 0\n"
	var got []string
	err := parseMounts(strings.NewReader(in), func(line, dev, mp, fstype, opts []byte) {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s", dev, unescapeMount(string(mp)), fstype, opts))
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/dev/vda|/|ext4|rw,relatime", "/dev/vdc|/mnt/a b|ext4|ro"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := parseMounts(strings.NewReader("/dev/vda /\n"), func(_, _, _, _, _ []byte) {}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("short mounts line: %v", err)
	}
	for in, want := range map[string]string{
		`/plain`:          `/plain`,
		`/a\040b\011c`:    "/a b\tc",
		`/back\134slash`:  `/back\slash`,
		`/trailing\04`:    `/trailing\04`, // incomplete escape kept
		`/not\08octal`:    `/not\08octal`,
		`/end\040`:        `/end `,
		`\134\134\040x\1`: `\\ x\1`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		state   byte
		threads int
	}{
		{"1 (systemd) S 0 1 1 0 -1 4194560 168699 16454319 0 5124 547 956 238292 12322 20 0 1 0 12 47865856", 'S', 1},
		{"300 (my (odd) prog) R 1 300 300 0 -1 4194304 101 0 0 0 2 1 0 0 20 0 4 0 364588", 'R', 4},
		{"77 (a) b) c) S 1 77 77 0 -1 1077936384 1000 0 0 0 500 300 0 0 20 0 12 0", 'S', 12},
	} {
		s, n, err := parseProcStat([]byte(tc.in))
		if err != nil || s != tc.state || n != tc.threads {
			t.Errorf("parseProcStat(%q) = %c %d %v; want %c %d", tc.in, s, n, err, tc.state, tc.threads)
		}
	}
	for _, bad := range []string{"1 systemd S 0", "1 (x) S 0 1 1", "1 (x) SS 0 1 1 0 -1 1 1 1 0 1 1 1 1 1 20 0 1 0", "1 (x) S 0 1 1 0 -1 1 1 1 0 1 1 1 1 1 20 0 x 0"} {
		if _, _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) succeeded", bad)
		}
	}
}

func TestParseNum(t *testing.T) {
	for in, want := range map[string]float64{
		"0": 0, "42": 42, "-1": -1, "18446744073709551615": 18446744073709551615, "1.25": 1.25, "1e3": 1000,
	} {
		if got, err := parseNum([]byte(in)); err != nil || got != want {
			t.Errorf("parseNum(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-", "12a", "0x10", " 1"} {
		if _, err := parseNum([]byte(bad)); err == nil {
			t.Errorf("parseNum(%q) succeeded", bad)
		}
	}
}
