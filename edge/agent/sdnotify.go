package agent

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// sdNotify sends a state line to systemd (sd_notify(3)); without
// $NOTIFY_SOCKET it does nothing.
func sdNotify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// watchdogInterval is half of the watchdog timeout systemd set for this
// process, or 0 when it set none.
func watchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// watchdog pings systemd while the collection loop is alive: a loop stuck
// for three intervals stops the pings, and systemd restarts the agent.
func (a *Agent) watchdog(ctx context.Context) {
	iv := watchdogInterval()
	if iv == 0 {
		return
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	last, lastAt := a.cycles.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if c := a.cycles.Load(); c != last {
				last, lastAt = c, now
			}
			if now.Sub(lastAt) <= 3*a.cfg.Interval+iv {
				if err := sdNotify(daemon.SdNotifyWatchdog); err != nil {
					a.log.Warn("systemd watchdog ping", "err", err)
				}
			} else {
				a.log.Error("collection loop stalled; withholding the watchdog ping", "since", lastAt)
			}
		}
	}
}
