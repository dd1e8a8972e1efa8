// Command edgepulse-aggregator is the Edgepulse regional aggregator: the
// embedded hub nats-server (alone or one node of a JetStream cluster with
// other aggregators, see docs/aggregator-tier.md), ring membership, the
// partition consumers, the Redis writer and the Prometheus HTTP API.
//
//	edgepulse-aggregator [--config aggregator.yaml] [--check-config]
//	edgepulse-aggregator version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/aggregator"
)

var version = "dev"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintln(stdout, "edgepulse-aggregator", version)
		return 0
	}
	fs := flag.NewFlagSet("edgepulse-aggregator", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML config file (default: built-in defaults)")
	check := fs.Bool("check-config", false, "validate the config and exit")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := aggregator.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-aggregator:", err)
		return 2
	}
	if *check {
		fmt.Fprintln(stderr, "config ok")
		return 0
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "edgepulse-aggregator: --log-level %q: want debug, info, warn or error\n", *level)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: l}))
	// A query flood must make the runtime collect harder, not the kernel
	// kill the unit (and the embedded hub with it).
	aggregator.SetMemoryLimit(log)
	// go-redis logs its pool's dial failures itself (four lines before our
	// one clear error when Redis is down); ours say what failed and are
	// counted, so its lines go to debug.
	redis.SetLogger(redisLog{log.With("component", "go-redis")})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := aggregator.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "edgepulse-aggregator:", err)
		return 1
	}
	defer a.Close()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "edgepulse-aggregator:", err)
		return 1
	}
	log.Info("aggregator stopped", "stats", fmt.Sprintf("%+v", a.Stats()))
	return 0
}

// redisLog is go-redis's logger on slog, at debug level.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
