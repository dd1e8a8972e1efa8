package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// spoolRetryEvery is how often an agent whose spool a full disk kept
// closed tries to open it again (outbox.go), each wait drawn from
// ±25 % of it so a fleet sharing a filled disk does not retry in step.
const spoolRetryEvery = 30 * time.Second

// spoolRetryLoop retries the spool until it opens or ctx is done; it
// returns at once when the spool is open. Each failure is counted
// (outbox_spool_open_failures_total); the log said once, at start, that
// the spool is closed, and says when it opens. Then the raw history
// starts and the forwarder starts again from the oldest batch, which may
// now be one the spool held from before the restart.
func (a *Agent) spoolRetryLoop(ctx context.Context) {
	every := a.spoolRetry
	if every <= 0 {
		every = spoolRetryEvery
	}
	other := newEvery(10 * time.Minute)
	for a.spool.spool() == nil {
		t := time.NewTimer(every*3/4 + rand.N(every/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		sp, older, err := a.spool.tryOpen()
		if err != nil && other.due(time.Now()) {
			a.log.Error("spool: cannot open (not a full disk); still running from memory, retrying", "err", err)
		}
		if sp == nil {
			continue
		}
		if err := a.startHistory(); err != nil {
			a.log.Error("history: cannot start in the spool that opened; raw history stays off", "err", err)
		}
		if older {
			a.fwd.Rewind()
		} else {
			a.fwd.Notify()
		}
	}
}
