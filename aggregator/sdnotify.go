package aggregator

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/nats-io/nats.go"
)

// watchdog tells systemd the aggregator is ready and then pings its
// watchdog while the NATS connection is up and Redis answers; when either
// stays broken past the watchdog timeout, systemd restarts the process.
// Without $NOTIFY_SOCKET it does nothing.
func (a *Aggregator) watchdog(ctx context.Context) {
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		a.log.Warn("systemd readiness notification", "err", err)
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
			pctx, cancel := context.WithTimeout(ctx, d/4)
			err := a.store.Client().Ping(pctx).Err()
			cancel()
			if err == nil && a.nc.Status() == nats.CONNECTED {
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			} else {
				a.log.Warn("unhealthy; withholding the systemd watchdog ping", "redis_err", err, "nats", a.nc.Status())
			}
		}
	}
}
