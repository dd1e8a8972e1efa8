package spool

import (
	"fmt"
	"sync"
	"time"
)

// Badger repeats some errors for as long as their cause lasts: on a full
// disk its flusher logs "error flushing memtable to disk: …, retrying"
// every second. limitedLogger passes each of Badger's error and warning
// lines at most once per badgerLogEvery for each format string (Badger's
// formats are constants in its code: the set, and the map, is bounded),
// says how many of the same were held back since, and counts every line
// ([Spool.BadgerLog]).
const badgerLogEvery = time.Minute

// BadgerLogStats counts Badger's error and warning lines of a spool
// directory since the process started (reopens included).
type BadgerLogStats struct {
	Lines      uint64 // error and warning lines Badger wrote
	Suppressed uint64 // of those, held back as repeats
}

// badgerLogs holds one limiter per spool directory, so that the spool's
// reopens (the agent retries a spool a full disk kept closed) share it.
var badgerLogs sync.Map // dir → *badgerLimit

type badgerLimit struct {
	mu    sync.Mutex
	last  map[string]time.Time
	held  map[string]uint64 // repeats held back since the last line passed
	stats BadgerLogStats
}

func limiterFor(dir string) *badgerLimit {
	l, _ := badgerLogs.LoadOrStore(dir, &badgerLimit{last: map[string]time.Time{}, held: map[string]uint64{}})
	return l.(*badgerLimit)
}

// pass reports whether a line of format f may be logged now, and how many
// repeats of it were held back before.
func (l *badgerLimit) pass(f string, now time.Time) (bool, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stats.Lines++
	if t, ok := l.last[f]; ok && now.Sub(t) < badgerLogEvery {
		l.held[f]++
		l.stats.Suppressed++
		return false, 0
	}
	n := l.held[f]
	l.last[f], l.held[f] = now, 0
	return true, n
}

// limitedLogger is the Logger the spool gives Badger.
type limitedLogger struct {
	badgerLogger
	lim *badgerLimit
}

func newLimitedLogger(opts Options, b badgerLogger) limitedLogger {
	return limitedLogger{badgerLogger: b, lim: limiterFor(opts.Dir)}
}

func (b limitedLogger) Errorf(f string, a ...any) {
	if ok, n := b.lim.pass(f, time.Now()); ok {
		b.l.Error(fmt.Sprintf(f, a...), "component", "badger", "repeats_held_back", n, "repeats_logged_every", badgerLogEvery)
	}
}

func (b limitedLogger) Warningf(f string, a ...any) {
	if ok, n := b.lim.pass(f, time.Now()); ok {
		b.l.Warn(fmt.Sprintf(f, a...), "component", "badger", "repeats_held_back", n, "repeats_logged_every", badgerLogEvery)
	}
}

// BadgerLog returns the counts of Badger's error and warning lines for
// this spool's directory.
func (s *Spool) BadgerLog() BadgerLogStats {
	l := limiterFor(s.opts.Dir)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}
