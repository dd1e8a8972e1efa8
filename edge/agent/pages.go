package agent

import (
	"context"
	"time"
)

// releasePagesEvery is how often the spool's mapped tables and value log
// are paged out (spool.ReleasePages says why): their pages were the part of
// the agent's RSS that grew with every table Badger wrote.
const releasePagesEvery = time.Minute

// The executable's pages not in use are released (exepages_linux.go) at
// start, one minute later (start-up code: opening the spool, connecting,
// the first window), and after Badger wrote a table (a memtable flush or
// a compaction runs ~2.6 MB of code the per-second path never touches;
// with the defaults a flush comes every few minutes), but not within
// exeDropMinGap minutes of the last release; and at least every
// exeDropMaxGap minutes for any other rare path (a history query, a
// reconnect). Each release costs the pages in use read back from disk
// (~500 page faults, ~2 MB) once.
const (
	exeDropMinGap = 2
	exeDropMaxGap = 10
)

// releasePagesLoop pages out the spool's mapped files at start and every
// releasePagesEvery until ctx is done; a failure (a kernel without
// MADV_PAGEOUT) is logged once and ends the loop. It releases the
// executable's pages as above.
func (a *Agent) releasePagesLoop(ctx context.Context) {
	t := time.NewTicker(releasePagesEvery)
	defer t.Stop()
	a.dropExecutablePages()
	lastDrop, table := 0, a.spool.NewestTable()
	// minute 0 pages out what opening the spool read: Badger checks every
	// table's index through its mapping (~30 KB a table, 5.9 MB with a
	// day of raw history).
	for minute := 0; ; minute++ {
		if minute > 0 {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			newest := a.spool.NewestTable()
			if since := minute - lastDrop; minute == 1 || (newest != table && since >= exeDropMinGap) || since >= exeDropMaxGap {
				a.dropExecutablePages()
				lastDrop, table = minute, newest
			}
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
