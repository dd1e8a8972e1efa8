package main

import (
	"bytes"
	"strings"
	"testing"
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
