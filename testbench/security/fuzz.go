package security

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// FuzzTarget is one decoder's fuzz function.
type FuzzTarget struct {
	Pkg  string // package directory relative to the module root, "./codec"
	Name string // FuzzDecode
}

// FuzzTargets is the one list of fuzz targets: make fuzz (cmd/fuzz-targets
// prints it) and make security run every entry. TestFuzzTargetsComplete
// fails when a Fuzz function in the module is missing here or an entry
// names one that does not exist.
var FuzzTargets = []FuzzTarget{
	{"./codec", "FuzzDecode"},      // batch bytes (msgp, the spool's format)
	{"./codec", "FuzzFrame"},       // wire frames against a decoder holding state
	{"./codec", "FuzzDecodeChunk"}, // stored chunks
	{"./aggregator", "FuzzValidateBatch"},
	{"./aggregator", "FuzzParseAssignment"},
	{"./aggregator/query", "FuzzQueryParams"},
	{"./edge/collect", "FuzzParsers"},
	{"./edge/history", "FuzzDecodeBlock"},
	{"./detect", "FuzzCSVReader"},
	{"./ring", "FuzzNew"},
	{"./ring", "FuzzPartitionOfTokens"},
	{"./ring", "FuzzRebalance"},
}

// FuzzReport is the outcome of one target's run.
type FuzzReport struct {
	FuzzTarget
	Crashed bool   // the fuzzer found a failing input (written to testdata/fuzz)
	Err     error  // the run failed otherwise (build error, ...)
	Tail    string // last lines of go test's output
	// Failing is the failing input the fuzzer wrote (package-relative
	// testdata/fuzz/<Name>/<hash>), "" without a crash.
	Failing string
	Saved   int // corpus entries copied into testdata/fuzz
}

// Fuzz runs `go test -fuzz` on t for d with parallel workers in the module
// at root. With saveCorpus > 0 it then copies up to that many of the
// smallest new entries of the fuzzer's cache corpus into the package's
// testdata/fuzz/<Name>, so the corpus can be committed.
func Fuzz(ctx context.Context, root string, t FuzzTarget, d time.Duration, parallel, saveCorpus int) FuzzReport {
	rep := FuzzReport{FuzzTarget: t}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-fuzz", "^"+t.Name+"$",
		"-fuzztime", d.String(), "-parallel", fmt.Sprint(parallel), t.Pkg)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	rep.Tail = tail(string(out), 6)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && (bytes.Contains(out, []byte("Failing input written to")) || bytes.Contains(out, []byte("--- FAIL"))) {
			rep.Crashed = true
			if _, after, ok := strings.Cut(string(out), "Failing input written to "); ok {
				rep.Failing = strings.TrimSpace(strings.SplitN(after, "\n", 2)[0])
			}
		} else {
			rep.Err = fmt.Errorf("go test -fuzz %s %s: %w", t.Name, t.Pkg, err)
		}
	}
	if saveCorpus > 0 {
		n, err := saveCache(root, t, saveCorpus)
		rep.Saved = n
		if err != nil && rep.Err == nil {
			rep.Err = err
		}
	}
	return rep
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// saveCache copies the smallest cached corpus entries of t that are not
// yet in testdata/fuzz/<Name>, until that directory holds max entries.
func saveCache(root string, t FuzzTarget, max int) (int, error) {
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		return 0, fmt.Errorf("go env GOCACHE: %w", err)
	}
	mod, err := exec.Command("go", "list", "-m").Output()
	if err != nil {
		return 0, fmt.Errorf("go list -m: %w", err)
	}
	rel := strings.TrimPrefix(t.Pkg, "./")
	src := filepath.Join(strings.TrimSpace(string(out)), "fuzz", strings.TrimSpace(string(mod)), rel, t.Name)
	dst := filepath.Join(root, rel, "testdata", "fuzz", t.Name)
	entries, err := os.ReadDir(src)
	if err != nil {
		return 0, nil // nothing new was found
	}
	have, _ := os.ReadDir(dst)
	room := max - len(have)
	type file struct {
		name string
		size int64
	}
	var files []file
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(dst, e.Name())); err == nil {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			files = append(files, file{e.Name(), info.Size()})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return int(a.size - b.size) })
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return 0, err
	}
	n := 0
	for _, f := range files {
		if n >= room || f.size > 64<<10 {
			break
		}
		b, err := os.ReadFile(filepath.Join(src, f.name))
		if err != nil {
			return n, err
		}
		if err := os.WriteFile(filepath.Join(dst, f.name), b, 0o644); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// KnownCrashers lists the unfixed crashers kept in
// testbench/security/testdata/crashers/<Target>/<hash>: target name → hashes.
func KnownCrashers(root string) map[string][]string {
	out := make(map[string][]string)
	files, _ := filepath.Glob(filepath.Join(root, "testbench", "security", "testdata", "crashers", "Fuzz*", "*"))
	for _, f := range files {
		target := filepath.Base(filepath.Dir(f))
		out[target] = append(out[target], filepath.Base(f))
	}
	return out
}
