package aggregator

import (
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// entry is one update as a KV watch delivers it (plain data).
type entry struct {
	key     string
	value   []byte
	rev     uint64
	created time.Time
	op      jetstream.KeyValueOp
}

func (e entry) Bucket() string                  { return "EP_MEMBERS" }
func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.value }
func (e entry) Revision() uint64                { return e.rev }
func (e entry) Created() time.Time              { return e.created }
func (e entry) Delta() uint64                   { return 0 }
func (e entry) Operation() jetstream.KeyValueOp { return e.op }

// TestMemberWatcherApply feeds a watch's updates to the watcher, without a
// server: heartbeats before the end-of-initial-values marker build the
// view silently, the marker reports a change, later joins, leaves and
// expiries report one each, this member's own heartbeat does not, and an
// assignment is decoded into the view (a change only once loaded).
func TestMemberWatcherApply(t *testing.T) {
	ms := &membership{partitions: 64, log: slog.New(slog.DiscardHandler)}
	view := &ms.view
	w := newMemberWatcher(nil, "agg-0", view, ms.decodeAssignment, time.Second, slog.New(slog.DiscardHandler))
	w.initial, w.loaded = map[string]time.Time{}, false
	now := time.Now()
	put := func(key string, rev uint64) entry {
		return entry{key: key, rev: rev, created: now, op: jetstream.KeyValuePut}
	}
	del := func(key string, rev uint64, op jetstream.KeyValueOp) entry {
		return entry{key: key, rev: rev, created: now, op: op}
	}
	assign := entry{key: AssignmentKey, value: validAssignment(t), rev: 4, created: now, op: jetstream.KeyValuePut}
	live := func() []string {
		m, ok := view.live(time.Minute, now)
		if !ok {
			return nil
		}
		slices.Sort(m)
		return m
	}
	steps := []struct {
		name    string
		e       jetstream.KeyValueEntry
		changed bool
		live    []string
	}{
		{"initial heartbeat", put("agg-0", 1), false, nil},
		{"initial heartbeat of another", put("agg-1", 2), false, nil},
		{"initial delete", del("agg-1", 3, jetstream.KeyValueDelete), false, nil},
		{"initial assignment", assign, false, nil},
		{"end of initial values", nil, true, []string{"agg-0"}},
		{"own heartbeat", put("agg-0", 5), false, []string{"agg-0"}},
		{"a member joins", put("agg-2", 6), true, []string{"agg-0", "agg-2"}},
		{"a member expires", del("agg-2", 7, jetstream.KeyValuePurge), true, []string{"agg-0"}},
		{"a member leaves", del("agg-0", 8, jetstream.KeyValueDelete), true, nil},
	}
	for _, s := range steps {
		if got := w.apply(s.e); got != s.changed {
			t.Errorf("%s: changed = %v, want %v", s.name, got, s.changed)
		}
		if got := live(); !slices.Equal(got, s.live) {
			t.Errorf("%s: live = %v, want %v", s.name, got, s.live)
		}
	}
	as, rev, _, ready := view.assignment()
	if !ready || as == nil || rev != 4 || !slices.Equal(as.Members, []string{"agg-0", "agg-1", "agg-2"}) {
		t.Fatalf("assignment in the view: %+v rev %d ready %v", as, rev, ready)
	}
	if view.ownSeen != 8 { // the own key's last update, the leave
		t.Errorf("own key seen at revision %d, want 8", view.ownSeen)
	}
	// A later assignment is a change once loaded; an invalid one is
	// counted and clears the view's assignment.
	bad, _ := json.Marshal(map[string]any{"partitions": 7})
	if !w.apply(entry{key: AssignmentKey, value: bad, rev: 9, created: now, op: jetstream.KeyValuePut}) {
		t.Error("assignment after the initial values: no change reported")
	}
	if as, rev, _, _ := view.assignment(); as != nil || rev != 9 || view.badAssign.Load() != 1 {
		t.Errorf("invalid assignment: %+v rev %d bad %d", as, rev, view.badAssign.Load())
	}
}
