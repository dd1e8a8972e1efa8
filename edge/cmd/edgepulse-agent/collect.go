package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/agent"
	"github.com/edgepulse/edgepulse/edge/collect"
)

// cmdCollect prints one sample of every series in the Prometheus text
// exposition format.
func cmdCollect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgepulse-agent collect", flag.ContinueOnError)
	once := fs.Bool("once", false, "collect once and exit (the only mode)")
	root := fs.String("procfs", "/proc", "procfs root to read")
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !*once {
		fmt.Fprintln(stderr, "edgepulse-agent collect: only --once is supported; use `edgepulse-agent run` to collect continuously")
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	set, err := collect.DefaultWith(log, *root, agent.DefaultCollectOptions())
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent collect:", err)
		return 1
	}
	reg := collect.NewRegistry(0)
	e := collect.NewEmitter(reg)
	e.Reset(time.Now().UnixMilli())
	set.Collect(e)
	type line struct {
		d *collect.Desc
		v float64
	}
	lines := make([]line, 0, len(e.Samples()))
	for _, s := range e.Samples() {
		lines = append(lines, line{reg.Desc(s.Series), s.Value})
	}
	slices.SortStableFunc(lines, func(a, b line) int {
		if a.d.Name != b.d.Name {
			if a.d.Name < b.d.Name {
				return -1
			}
			return 1
		}
		return int(a.d.ID) - int(b.d.ID)
	})
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for i, l := range lines {
		if i == 0 || lines[i-1].d.Name != l.d.Name {
			typ := "gauge"
			if l.d.Kind == codec.Counter {
				typ = "counter"
			}
			fmt.Fprintf(w, "# TYPE %s %s\n", l.d.Name, typ)
		}
		fmt.Fprintf(w, "%s %s\n", l.d.String(), formatFloat(l.v))
	}
	return 0
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
