package collect

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParsers feeds every parser the same input: none may panic, and a
// parser that succeeds must report only what the input holds. Seeds are
// the fixture files; failing inputs go to testdata/fuzz/FuzzParsers.
func FuzzParsers(f *testing.F) {
	for _, p := range []string{"stat", "meminfo", "loadavg", "vmstat", "pressure/cpu", "diskstats", "net/dev", "net/netstat", "net/snmp", "net/snmp6", "net/sockstat", "sys/fs/file-nr", "mounts", "300/stat"} {
		b, err := os.ReadFile(filepath.Join(fixtureRoot, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := func() *bytes.Reader { return bytes.NewReader(b) }
		inInput := func(what string, s []byte) {
			if len(s) > 0 && !bytes.Contains(b, s) {
				t.Fatalf("%s %q is not in the input", what, s)
			}
		}
		var st procStat
		_ = parseStat(r(), &st)
		_ = parseMeminfo(r(), func(k []byte, _ float64) { inInput("meminfo field", k) })
		_, _ = parseLoadavg(r())
		_ = parseKeyValues(r(), func(k []byte, _ float64) { inInput("key", k) })
		_, _ = parsePressure(r())
		_ = parseDiskstats(r(), func(major, minor, dev []byte, d diskLine) {
			inInput("device", dev)
			if d.n < 11 || d.n > len(d.v) {
				t.Fatalf("diskstats row with %d columns", d.n)
			}
		})
		_ = parseNetDev(r(), func(dev []byte, _ [16]float64) {})
		_ = parseNetstat(r(), func(proto, field []byte, _ float64) { inInput("proto", proto); inInput("field", field) })
		_ = parseSnmp6(r(), func(proto, field []byte, _ float64) {})
		_ = parseSockstat(r(), func(proto, field []byte, _ float64) { inInput("proto", proto); inInput("field", field) })
		_, _, _ = parseFileNr(r())
		_ = parseMounts(r(), func(line, _, mp, _, _ []byte) {
			inInput("line", line)
			if u := unescapeMount(string(mp)); len(u) > len(mp) {
				t.Fatalf("unescaped %q grew to %q", mp, u)
			}
		})
		_, _, _ = parseProcStat(b)
	})
}
