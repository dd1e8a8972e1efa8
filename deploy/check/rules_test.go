package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestExampleRulesPassPromtool: the shipped rule files are standard
// Prometheus rules (`promtool check rules`).
func TestExampleRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	files, err := filepath.Glob("../rules/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in deploy/rules: %v", err)
	}
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
