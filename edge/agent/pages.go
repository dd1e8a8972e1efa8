package agent

import (
	"context"
	"time"
)

// releasePagesEvery is how often the spool's mapped tables and value log
// are paged out (spool.ReleasePages says why): their pages were the part of
// the agent's RSS that grew with every table Badger wrote.
const releasePagesEvery = time.Minute

// The executable's unused pages are released at start and every
// exeDropEvery minutes: what the agent ran once since (a flush, a
// compaction, a history query) leaves again. Each release costs the pages
// in use read back from disk (~500 page faults, ~2 MB) once.
const exeDropEvery = 5

// releasePagesLoop pages out the spool's mapped files every
// releasePagesEvery until ctx is done; a failure (a kernel without
// MADV_PAGEOUT) is logged once and ends the loop.
func (a *Agent) releasePagesLoop(ctx context.Context) {
	t := time.NewTicker(releasePagesEvery)
	defer t.Stop()
	// The executable's pages not in use (exepages_linux.go).
	a.dropExecutablePages()
	for minute := 1; ; minute++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if minute%exeDropEvery == 0 {
			a.dropExecutablePages()
		}
		if _, err := a.spool.ReleasePages(); err != nil {
			a.log.Warn("cannot page out the spool's mapped files; their pages stay resident (logged once)", "err", err)
			return
		}
	}
}

// dropExecutablePages releases the executable's pages the agent does not
// run (exepages_linux.go) and logs what it did.
func (a *Agent) dropExecutablePages() {
	before, after, err := dropExecutablePages()
	if err != nil {
		a.log.Warn("cannot release the executable's unused pages; they stay resident", "err", err)
		return
	}
	a.log.Info("released the executable's pages not in use", "resident_before", before, "resident_after", after)
}
