package agent

import (
	"context"
	"log/slog"
	"sync"
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
	a.exe.run(a.log, true)
	for minute := 1; ; minute++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if minute%exeDropEvery == 0 {
			a.exe.run(a.log, false)
		}
		if _, err := a.spool.ReleasePages(); err != nil {
			a.log.Warn("cannot page out the spool's mapped files; their pages stay resident (logged once)", "err", err)
			return
		}
	}
}

// exeRelease releases the executable's pages the agent does not run
// (exepages_linux.go): at start, every exeDropEvery minutes, and before
// Badger builds tables (a memtable flush, a compaction: the agent's
// largest transient allocations, which then land on its smallest RSS),
// at most once per exeReleaseMinGap. A failure is logged once and ends
// the releases.
type exeRelease struct {
	mu     sync.Mutex
	last   time.Time
	logged bool
	failed bool
}

// exeReleaseMinGap spaces the releases: a flush and the compaction it
// starts come seconds apart, and each release costs the pages in use read
// back from disk.
const exeReleaseMinGap = time.Minute

func (e *exeRelease) run(log *slog.Logger, force bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failed || (!force && time.Since(e.last) < exeReleaseMinGap) {
		return
	}
	e.last = time.Now()
	before, after, err := dropExecutablePages()
	if err != nil {
		e.failed = true
		log.Warn("cannot release the executable's unused pages; they stay resident", "err", err)
		return
	}
	if !e.logged {
		e.logged = true
		log.Info("released the executable's pages not in use (again every few minutes and before Badger builds tables)", "resident_before", before, "resident_after", after)
		return
	}
	log.Debug("released the executable's pages not in use", "resident_before", before, "resident_after", after)
}

// releaseBeforeTableBuild is the spool's BeforeTableBuild.
func (a *Agent) releaseBeforeTableBuild() { a.exe.run(a.log, false) }
