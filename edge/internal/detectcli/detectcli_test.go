package detectcli

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runCLI calls Run and returns exit code, stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// series returns a CSV body of n rows with the given header (may be "").
func series(header string, n, cols int, ts bool) string {
	var b strings.Builder
	if header != "" {
		b.WriteString(header + "\n")
	}
	for i := 0; i < n; i++ {
		if ts {
			b.WriteString("t" + strconv.Itoa(i) + ",")
		}
		for j := 0; j < cols; j++ {
			if j > 0 {
				b.WriteByte(',')
			}
			v := 50 + 10*math.Sin(float64(i)/20+float64(j)) + float64((i*7+j*3)%5)
			b.WriteString(strconv.FormatFloat(v, 'f', 2, 64))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// parseOut checks the output contract and returns header fields and rows.
func parseOut(t *testing.T, out string) ([]string, [][]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	header := strings.Split(lines[0], ",")
	if header[0] != "timestamp" || header[1] != "anomaly_score" {
		t.Fatalf("header %q", lines[0])
	}
	var rows [][]string
	for _, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != len(header) {
			t.Fatalf("row %q has %d fields, header %d", l, len(f), len(header))
		}
		for _, s := range f[1:] {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || v < 0 || v > 1 {
				t.Fatalf("score %q not in [0, 1]", s)
			}
		}
		rows = append(rows, f)
	}
	return header, rows
}

func TestContract(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name      string
		input     string
		extra     []string
		wantCols  int
		wantFirst string // timestamp of the first row
	}{
		{"header, no timestamp: row index", series("a,b,c", 300, 3, false), nil, 2, "0"},
		{"no header", series("", 300, 3, false), nil, 2, "0"},
		{"timestamp passthrough", series("timestamp,a,b", 300, 2, true), nil, 2, "t0"},
		{"per-column", series("timestamp,a,b", 300, 2, true), []string{"--per-column"}, 4, "t0"},
		{"single column", series("", 300, 1, false), []string{"--per-column"}, 3, "0"},
		{"CRLF", strings.ReplaceAll(series("a,b", 300, 2, false), "\n", "\r\n"), nil, 2, "0"},
		{"missing and constant cells", "a,b,c\n" + strings.Repeat("1,,7\n2,NaN,7\n", 150), nil, 2, "0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := write(t, dir, "in.csv", tc.input)
			outPath := filepath.Join(dir, "out.csv")
			code, _, stderr := runCLI(t, "", append([]string{"--in", in, "--out", outPath}, tc.extra...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			b, _ := os.ReadFile(outPath)
			header, rows := parseOut(t, string(b))
			if len(header) != tc.wantCols {
				t.Errorf("header %v, want %d columns", header, tc.wantCols)
			}
			if len(rows) != 300 {
				t.Fatalf("%d rows, want 300", len(rows))
			}
			if rows[0][0] != tc.wantFirst || (tc.wantFirst == "0" && rows[299][0] != "299") {
				t.Errorf("timestamps %q … %q", rows[0][0], rows[299][0])
			}
		})
	}
}

func TestPerColumnHeaderNames(t *testing.T) {
	code, out, stderr := runCLI(t, "timestamp,cpu,\"disk,sda\"\n1,2,3\n", "--in", "-", "--per-column")
	if code != 0 {
		t.Fatal(stderr)
	}
	if first := strings.SplitN(out, "\n", 2)[0]; first != `timestamp,anomaly_score,score_cpu,"score_disk,sda"` {
		t.Errorf("header %q", first)
	}
}

func TestStdinStdoutAndTraining(t *testing.T) {
	dir := t.TempDir()
	train := write(t, dir, "train.csv", series("a,b", 2000, 2, false))
	input := series("a,b", 200, 2, false)
	code, out, stderr := runCLI(t, input, "--in", "-", "--train", train)
	if code != 0 {
		t.Fatal(stderr)
	}
	_, rows := parseOut(t, out)
	if len(rows) != 200 {
		t.Fatalf("%d rows", len(rows))
	}
	// Without training the first rows are warm-up (score 0); with it they
	// are scored.
	code, outNoTrain, _ := runCLI(t, input, "--in", "-")
	if code != 0 || outNoTrain == out {
		t.Errorf("training made no difference (exit %d)", code)
	}
}

// Row i's score uses only rows ≤ i: scoring a prefix of the input gives
// the same leading rows.
func TestStreamingPrefix(t *testing.T) {
	full := series("a,b,c", 1500, 3, false)
	lines := strings.SplitAfter(full, "\n")
	prefix := strings.Join(lines[:801], "")
	_, outFull, _ := runCLI(t, full, "--in", "-")
	_, outPrefix, _ := runCLI(t, prefix, "--in", "-")
	if !strings.HasPrefix(outFull, outPrefix) {
		t.Error("scores of a prefix differ from the same rows of the full input")
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.csv", series("a,b", 50, 2, false))
	bad := write(t, dir, "bad.csv", "a,b\n1,2\n3,oops\n")
	short := write(t, dir, "short.csv", "a,b\n1,2\n3\n")
	train3 := write(t, dir, "train3.csv", series("a,b,c", 50, 3, false))
	trainNames := write(t, dir, "trainx.csv", series("a,x", 50, 2, false))
	badCfg := write(t, dir, "bad.yaml", "spot: {q: 3}\n")
	ruleCfg := write(t, dir, "rule.yaml", "rules: [{name: r, series: nope, op: '>', threshold: 1}]\n")
	out := filepath.Join(dir, "out.csv")
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no --in", []string{"--out", out}, ExitUsage, "--in is required"},
		{"unknown flag", []string{"--in", good, "--bogus"}, ExitUsage, "bogus"},
		{"extra argument", []string{"--in", good, "extra"}, ExitUsage, `unexpected argument "extra"`},
		{"missing file", []string{"--in", filepath.Join(dir, "nope.csv")}, ExitError, "nope.csv"},
		{"bad number", []string{"--in", bad, "--out", out}, ExitError, `bad.csv:3:2 (column "b"): not a number: "oops"`},
		{"field count", []string{"--in", short, "--out", out}, ExitError, "short.csv:3: wrong number of fields"},
		{"bad config", []string{"--in", good, "--config", badCfg}, ExitError, "bad.yaml: detect: config: spot.q"},
		{"rule without column", []string{"--in", good, "--config", ruleCfg}, ExitError, `rules[0].series: no column named "nope"`},
		{"train column count", []string{"--in", good, "--train", train3}, ExitError, "train3.csv: 3 value columns, but the input has 2"},
		{"train column names", []string{"--in", good, "--train", trainNames}, ExitError, `trainx.csv: value column 2 is "x"`},
		{"train bad row", []string{"--in", good, "--train", bad}, ExitError, "bad.csv:3:2"},
		{"both stdin", []string{"--in", "-", "--train", "-"}, ExitUsage, "cannot both be stdin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, "", tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s behind (err %v)", out, err)
	}
}

func TestEmptyInput(t *testing.T) {
	code, out, stderr := runCLI(t, "", "--in", "-", "--per-column")
	if code != 0 || out != "timestamp,anomaly_score\n" {
		t.Errorf("exit %d, out %q, stderr %q", code, out, stderr)
	}
}

// TestFailedRunKeepsOutputs checks that an error neither leaves a partial
// file nor deletes what the output path held before, and that a
// non-regular output (here /dev/null) is never removed.
func TestFailedRunKeepsOutputs(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	out := filepath.Join(dir, "out.csv")
	os.WriteFile(in, []byte("1,2\n3,x\n"), 0o644)
	os.WriteFile(out, []byte("previous\n"), 0o644)
	var stderr strings.Builder
	if code := Run([]string{"--in", in, "--out", out}, nil, io.Discard, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, stderr.String())
	}
	if b, _ := os.ReadFile(out); string(b) != "previous\n" {
		t.Fatalf("output after failed run = %q, want the previous content", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("dir holds %d entries, want in.csv and out.csv only", len(ents))
	}
	if code := Run([]string{"--in", in, "--out", os.DevNull}, nil, io.Discard, io.Discard); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Fatalf("%s was removed or replaced: %v %v", os.DevNull, fi, err)
	}
}
