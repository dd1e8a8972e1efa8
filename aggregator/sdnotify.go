package aggregator

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// watchdog tells systemd the aggregator is ready and then pings its
// watchdog while it is live (hub.live: the hub and the NATS connection;
// never Redis, so a Redis outage does not restart the hub that buffers
// through it); when that stays broken past the watchdog timeout, systemd
// restarts the process.
// Without $NOTIFY_SOCKET it does nothing.
func watchdog(ctx context.Context, log *slog.Logger, live func() error) {
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("systemd readiness notification", "err", err)
	}
	defer daemon.SdNotify(false, daemon.SdNotifyStopping)
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(d / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := live(); err == nil {
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			} else {
				log.Warn("not live; withholding the systemd watchdog ping", "err", err)
			}
		}
	}
}
