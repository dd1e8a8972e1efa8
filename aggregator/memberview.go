package aggregator

import (
	"sync"
	"sync/atomic"
	"time"
)

// memberView is the membership bucket as this member's watcher last saw
// it: each member's last heartbeat time. Reading the bucket with Keys on
// every heartbeat created and deleted a watcher each time, and each one's
// reply subscription was announced to every leaf node (LS+/LS-): about
// 8 KB per minute on every site's uplink, measured by testbench/backhaul.
type memberView struct {
	mu    sync.Mutex
	ready bool                 // the watcher has delivered the bucket's contents
	beats map[string]time.Time // member → its last heartbeat (server time)

	// The assignment stored under AssignmentKey as last seen: nil when the
	// key does not exist or its value is invalid; rev is the key's last
	// revision (0: never written), the expected revision of the next write.
	assign *assignment
	rev    uint64
	seenAt time.Time // when this member first saw revision rev (local clock)
	// badAssign counts stored assignments that could not be used.
	badAssign atomic.Uint64

	// The last two heartbeats the server acknowledged (newest first) and
	// the highest revision of this member's key the watcher delivered: a
	// watcher that has not delivered a heartbeat acknowledged a while ago
	// is behind (its consumer was on a server that died).
	acks    [2]beatAck
	ownSeen uint64
}

type beatAck struct {
	rev uint64
	at  time.Time
}

// acked records an acknowledged heartbeat.
func (v *memberView) acked(rev uint64, at time.Time) {
	v.mu.Lock()
	v.acks[1], v.acks[0] = v.acks[0], beatAck{rev, at}
	v.mu.Unlock()
}

// seenOwn records that the watcher delivered this member's key at rev.
func (v *memberView) seenOwn(rev uint64) {
	v.mu.Lock()
	v.ownSeen = max(v.ownSeen, rev)
	v.mu.Unlock()
}

// behind reports whether a heartbeat acknowledged more than grace ago has
// not been delivered by the watcher: the view is stale.
func (v *memberView) behind(now time.Time, grace time.Duration) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, b := range v.acks {
		if b.rev > v.ownSeen && now.Sub(b.at) > grace {
			return true
		}
	}
	return false
}

// setAssignment records the assignment at revision rev unless that or a
// later revision is already recorded (the watcher and a successful write
// both report a write).
func (v *memberView) setAssignment(as *assignment, rev uint64) {
	v.mu.Lock()
	if rev > v.rev || rev == v.rev && v.assign == nil {
		if rev > v.rev {
			v.seenAt = time.Now()
		}
		v.assign, v.rev = as, rev
	}
	v.mu.Unlock()
}

// assignment returns the stored assignment, its revision, how long ago
// this member first saw that revision and whether the watcher has
// delivered the bucket.
func (v *memberView) assignment() (as *assignment, rev uint64, age time.Duration, ready bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.assign, v.rev, time.Since(v.seenAt), v.ready
}

func (v *memberView) set(beats map[string]time.Time) {
	v.mu.Lock()
	v.beats, v.ready = beats, true
	v.mu.Unlock()
}

func (v *memberView) put(key string, at time.Time) {
	v.mu.Lock()
	if v.beats == nil {
		v.beats = map[string]time.Time{}
	}
	v.beats[key] = at
	v.mu.Unlock()
}

func (v *memberView) del(key string) {
	v.mu.Lock()
	delete(v.beats, key)
	v.mu.Unlock()
}

// live lists the members whose last heartbeat is younger than ttl; ok is
// false until the watcher delivered the bucket.
func (v *memberView) live(ttl time.Duration, now time.Time) (members []string, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, at := range v.beats {
		if now.Sub(at) < ttl {
			members = append(members, k)
		}
	}
	return members, v.ready
}
