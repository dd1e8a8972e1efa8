// Command edgepulse-agent is the Edgepulse edge agent.
//
//	edgepulse-agent [run] [--config agent.yaml]   collect, roll up, spool and forward
//	edgepulse-agent collect --once [--procfs /proc]  print one sample of every series
//	edgepulse-agent decode                           msgp batch on stdin → JSON on stdout
//	edgepulse-agent detect --in x.csv --out s.csv    score a CSV with the streaming detectors
//	edgepulse-agent version
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgepulse/edgepulse/edge/internal/detectcli"
)

// version is stamped by the build (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		cmd = "help" // the commands, not the run command's flags alone
	} else if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(args, stderr)
	case "collect":
		return cmdCollect(args, stdout, stderr)
	case "decode":
		return cmdDecode(args, stdin, stdout, stderr)
	case "detect":
		return detectcli.Run(args, stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "edgepulse-agent", version)
		return 0
	case "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "edgepulse-agent: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  edgepulse-agent [run] [--config agent.yaml] [--check-config]
  edgepulse-agent collect --once [--procfs /proc]
  edgepulse-agent decode < batch.msgp
  edgepulse-agent detect --in series.csv --out scores.csv [--train normal.csv] [--config detect.yaml] [--per-column]
  edgepulse-agent version
  edgepulse-agent <command> -h    the command's flags
`)
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
