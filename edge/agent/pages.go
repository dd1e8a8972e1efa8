package agent

import (
	"context"
	"time"
)

// releasePagesEvery is how often the spool's mapped tables and value log
// are paged out (spool.ReleasePages says why): their pages were the part of
// the agent's RSS that grew with every table Badger wrote.
const releasePagesEvery = time.Minute

// releasePagesLoop pages out the spool's mapped files every
// releasePagesEvery until ctx is done; a failure (a kernel without
// MADV_PAGEOUT) is logged once and ends the loop.
func (a *Agent) releasePagesLoop(ctx context.Context) {
	t := time.NewTicker(releasePagesEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := a.spool.ReleasePages(); err != nil {
			a.log.Warn("cannot page out the spool's mapped files; their pages stay resident (logged once)", "err", err)
			return
		}
	}
}
