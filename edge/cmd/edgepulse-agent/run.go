package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/edgepulse/edgepulse/edge/agent"
)

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgepulse-agent run", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML config file (default: built-in defaults)")
	check := fs.Bool("check-config", false, "validate the config and exit")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := agent.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent:", err)
		return 2
	}
	cfg.Version = version
	if *check {
		fmt.Fprintln(stderr, "config ok")
		return 0
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent:", err)
		return 2
	}
	a, err := agent.New(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-agent:", err)
		return 1
	}
	defer a.Close()
	ctx, stop := signalContext()
	defer stop()
	a.Run(ctx)
	log.Info("agent stopped", "stats", fmt.Sprintf("%+v", a.Stats()))
	return 0
}
