package security

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFuzzTargetsComplete scans the module's _test.go files for Fuzz
// functions and checks FuzzTargets lists exactly those, so make fuzz and
// make security cannot silently skip a decoder or name one that is gone.
func TestFuzzTargetsComplete(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(\w+ \*testing\.F\)`)
	var found []FuzzTarget
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		for _, m := range fuzzFunc.FindAllSubmatch(b, -1) {
			found = append(found, FuzzTarget{"./" + filepath.ToSlash(rel), string(m[1])})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	key := func(t FuzzTarget) string { return t.Pkg + " " + t.Name }
	var have, want []string
	for _, f := range found {
		want = append(want, key(f))
	}
	for _, f := range FuzzTargets {
		have = append(have, key(f))
	}
	slices.Sort(have)
	slices.Sort(want)
	for _, w := range want {
		if !slices.Contains(have, w) {
			t.Errorf("fuzz target %s is not in FuzzTargets", w)
		}
	}
	for _, h := range have {
		if !slices.Contains(want, h) {
			t.Errorf("FuzzTargets lists %s, which does not exist", h)
		}
	}
	if len(want) < 12 {
		t.Errorf("found only %d fuzz targets: %v", len(want), want)
	}
}
