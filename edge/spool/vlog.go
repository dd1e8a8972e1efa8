package spool

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Batches above the value threshold (128 KiB: hosts with more than about
// a thousand series) live in Badger's value log, which only a value-log GC
// shrinks; without it every such batch would stay on disk after its ack.
// The GC rewrites a log file once half of it is garbage; it is a no-op
// (a directory scan) when nothing is.

// vlogGCEvery is how often the value log is collected.
const vlogGCEvery = 10 * time.Minute

// gcValueLog collects the value log until stop is closed.
func (s *Spool) gcValueLog(stop <-chan struct{}) {
	t := time.NewTicker(vlogGCEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for range 4 { // a few files per round at most
			err := s.db.RunValueLogGC(0.5)
			if err != nil {
				if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
					s.log.Warn("spool: value log GC", "err", err)
				}
				break
			}
		}
	}
}
