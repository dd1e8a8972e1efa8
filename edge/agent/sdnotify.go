package agent

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// sdNotify sends a state line to systemd's notification socket
// ($NOTIFY_SOCKET, see sd_notify(3)). Without the variable it does nothing.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// watchdogInterval is half of $WATCHDOG_USEC, or 0 when systemd set no
// watchdog for this process.
func watchdogInterval() time.Duration {
	us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(us) * time.Microsecond / 2
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
				if err := sdNotify("WATCHDOG=1"); err != nil {
					a.log.Warn("systemd watchdog ping", "err", err)
				}
			} else {
				a.log.Error("collection loop stalled; withholding the watchdog ping", "since", lastAt)
			}
		}
	}
}
