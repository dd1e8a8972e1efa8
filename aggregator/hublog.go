package aggregator

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

// hubLogger sends the embedded nats-server's log (Raft, JetStream,
// leaf-node and route errors, its start-up notices) to the aggregator's
// slog logger, tagged component=hub. Without it those lines go nowhere.
// A "fatal" from the server is logged as an error: the process is the
// aggregator's, not the server's, to end.
type hubLogger struct{ log *slog.Logger }

func (l hubLogger) logf(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

func (l hubLogger) Noticef(format string, v ...any) { l.logf(slog.LevelInfo, format, v) }
func (l hubLogger) Warnf(format string, v ...any)   { l.logf(slog.LevelWarn, format, v) }
func (l hubLogger) Errorf(format string, v ...any)  { l.logf(slog.LevelError, format, v) }
func (l hubLogger) Fatalf(format string, v ...any) {
	l.logf(slog.LevelError, "fatal: "+format, v)
}
func (l hubLogger) Debugf(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }

// Tracef is protocol tracing, one line per message: only below debug.
func (l hubLogger) Tracef(format string, v ...any) { l.logf(slog.LevelDebug-4, format, v) }

// setHubLogger wires log into ns (debug lines only when log takes them).
func setHubLogger(ns *server.Server, log *slog.Logger) {
	if log == nil {
		return
	}
	l := hubLogger{log.With("component", "hub")}
	ns.SetLoggerV2(l, log.Enabled(context.Background(), slog.LevelDebug),
		log.Enabled(context.Background(), slog.LevelDebug-4), false)
}
