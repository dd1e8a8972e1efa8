package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/edgepulse/edgepulse/codec"
)

// TestHelp: --help lists the commands (it used to print the run
// command's flags as "Usage of run:"); a command's -h names the command.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help", "help"} {
		var out, errb bytes.Buffer
		if code := run([]string{arg}, nil, &out, &errb); code != 0 {
			t.Errorf("%s: exit %d, stderr %q", arg, code, errb.String())
		}
		if !strings.Contains(out.String(), "edgepulse-agent collect --once") || strings.Contains(out.String()+errb.String(), "Usage of run") {
			t.Errorf("%s printed:\n%s%s", arg, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	run([]string{"run", "-h"}, nil, &out, &errb)
	if !strings.Contains(errb.String(), "Usage of edgepulse-agent run:") || !strings.Contains(errb.String(), "-config") {
		t.Errorf("run -h printed:\n%s", errb.String())
	}
}

// TestDecodeShowsFrameVersion: a decoded frame shows the frame's schema
// version (the one the README names), beside the batch's own.
func TestDecodeShowsFrameVersion(t *testing.T) {
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	b := &codec.Batch{Version: codec.Version, Agent: "s1/h1", Site: "s1", Host: "h1", Seq: 1, Start: 1_700_000_040_000, Width: 60_000,
		Series:  []codec.Series{{ID: 1, Name: "node_load1", Kind: codec.Gauge}},
		Rollups: []codec.Rollup{{ID: 1, Count: 60, Sum: 60, Min: 1, Max: 1, First: 1, Last: 1}}}
	frame, err := enc.Encode(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"decode"}, bytes.NewReader(frame), &out, &errb); code != 0 {
		t.Fatalf("decode: exit %d: %s", code, errb.String())
	}
	want := fmt.Sprintf(`"FrameVersion": %d`, codec.FrameVersion)
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), `"node_load1"`) {
		t.Fatalf("decode printed:\n%s\nwant %s", out.String(), want)
	}
}
