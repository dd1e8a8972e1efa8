package aggregator

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// memberWatcher follows the membership bucket into a memberView: the
// bucket's contents up to the watch's end-of-initial-values marker (nil),
// then every heartbeat, graceful leave, expiry marker and assignment
// write. It signals a change of the member set or of the assignment on
// changed (coalesced, never blocking). run owns the per-watch state;
// restartWatch may be called from any goroutine.
type memberWatcher struct {
	kv     memberKV
	self   string
	view   *memberView
	decode func(jetstream.KeyValueEntry) *assignment
	retry  time.Duration // pause after a failed WatchAll
	log    *slog.Logger

	changed chan struct{}
	restart chan struct{}

	// State of the current watch (reset by each WatchAll).
	initial map[string]time.Time // heartbeats before the marker
	loaded  bool                 // the marker was delivered
}

func newMemberWatcher(kv memberKV, self string, view *memberView, decode func(jetstream.KeyValueEntry) *assignment,
	retry time.Duration, log *slog.Logger) *memberWatcher {
	return &memberWatcher{kv: kv, self: self, view: view, decode: decode, retry: retry, log: log,
		changed: make(chan struct{}, 1), restart: make(chan struct{}, 1)}
}

// restartWatch makes run drop its watch and create a new one (its
// consumer may sit on a server that died).
func (w *memberWatcher) restartWatch() {
	select {
	case w.restart <- struct{}{}:
	default:
	}
}

// run watches the bucket until ctx is done, creating a new watch whenever
// one ends or a restart is asked for.
func (w *memberWatcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		kw, err := w.kv.WatchAll(ctx)
		if err != nil {
			w.log.Debug("membership watch", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(w.retry):
			}
			continue
		}
		select { // a restart asked for while this watch was created
		case <-w.restart:
		default:
		}
		w.follow(kw)
		kw.Stop()
	}
}

// follow applies one watch's updates until it ends or a restart is asked
// for.
func (w *memberWatcher) follow(kw jetstream.KeyWatcher) {
	w.initial, w.loaded = map[string]time.Time{}, false
	for {
		select {
		case <-w.restart:
			return
		case e, ok := <-kw.Updates():
			if !ok {
				return
			}
			if w.apply(e) {
				select {
				case w.changed <- struct{}{}:
				default:
				}
			}
		}
	}
}

// apply records one update (nil: the end of the initial values) in the
// view and reports whether it changed the member set or the assignment.
func (w *memberWatcher) apply(e jetstream.KeyValueEntry) bool {
	if e != nil && e.Key() == w.self {
		w.view.seenOwn(e.Revision())
	}
	switch {
	case e != nil && e.Key() == AssignmentKey:
		w.view.setAssignment(w.decode(e), e.Revision())
		return w.loaded
	case e == nil: // the bucket's contents are in
		w.view.set(w.initial)
		w.loaded = true
		return true
	case !w.loaded && e.Operation() == jetstream.KeyValuePut:
		w.initial[e.Key()] = e.Created()
		return false
	case !w.loaded:
		delete(w.initial, e.Key())
		return false
	case e.Operation() == jetstream.KeyValuePut:
		w.view.put(e.Key(), e.Created())
		return e.Key() != w.self // our own heartbeat: not a membership change
	default: // a graceful leave or an expiry marker
		w.view.del(e.Key())
		return true
	}
}
