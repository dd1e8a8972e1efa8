package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/ring"
)

// heartbeat is the value a member keeps in the membership bucket under its
// name. Only the key's presence matters to the ring; the value is for
// people reading the bucket (nats kv ls EP_MEMBERS).
type heartbeat struct {
	Name    string    `json:"name"`
	Client  string    `json:"client,omitempty"`
	Started time.Time `json:"started"`
}

// ensureMembers creates or updates the membership bucket: one key per
// member, refreshed every heartbeat, gone TTL after the last one. The
// limit markers make an expiry visible to watchers.
func (a *Aggregator) ensureMembers(ctx context.Context) error {
	kv, err := a.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         a.cfg.Membership.Bucket,
		Description:    "Edgepulse aggregator ring members (key = member name, refreshed by heartbeats)",
		History:        1,
		TTL:            a.cfg.Membership.TTL,
		LimitMarkerTTL: max(a.cfg.Membership.TTL, time.Second),
		Storage:        jetstream.FileStorage,
		Replicas:       a.cfg.replicas(),
	})
	if err != nil {
		return fmt.Errorf("aggregator: membership bucket %s: %w", a.cfg.Membership.Bucket, err)
	}
	a.kv = kv
	return nil
}

// beat writes this member's heartbeat.
func (a *Aggregator) beat(ctx context.Context) error {
	v, _ := json.Marshal(heartbeat{Name: a.cfg.Name, Client: a.ClientURL(), Started: a.started})
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Membership.Heartbeat)
	defer cancel()
	rev, err := a.kv.Put(ctx, a.cfg.Name, v)
	if err != nil {
		return fmt.Errorf("aggregator: heartbeat %s/%s: %w", a.cfg.Membership.Bucket, a.cfg.Name, err)
	}
	a.members.acked(rev, time.Now())
	return nil
}

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

// liveMembers lists the members with a live heartbeat, always including
// this one (a member never considers itself dead), sorted. It reads the
// watcher's view; only before the watcher has delivered the bucket does
// it list the bucket's keys.
func (a *Aggregator) liveMembers(ctx context.Context) ([]string, error) {
	keys, ok := a.members.live(a.cfg.Membership.TTL, time.Now())
	if !ok {
		ctx, cancel := context.WithTimeout(ctx, a.cfg.Membership.Heartbeat)
		defer cancel()
		var err error
		keys, err = a.kv.Keys(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, fmt.Errorf("aggregator: list %s: %w", a.cfg.Membership.Bucket, err)
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == AssignmentKey })
	}
	if !slices.Contains(keys, a.cfg.Name) {
		keys = append(keys, a.cfg.Name)
	}
	slices.Sort(keys)
	return keys, nil
}

// runMembership heartbeats, follows the bucket and rebalances the
// partition consumers until ctx is done. It reconciles on every heartbeat
// and on every change the watcher reports (a join, a graceful leave, an
// expiry marker).
func (a *Aggregator) runMembership(ctx context.Context) {
	changed := make(chan struct{}, 1)
	restart := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			w, err := a.kv.WatchAll(ctx)
			if err != nil {
				a.log.Debug("membership watch", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(a.cfg.Membership.Heartbeat):
				}
				continue
			}
			select { // a restart asked for while this watcher was created
			case <-restart:
			default:
			}
			initial := map[string]time.Time{}
			loaded := false
		watch:
			for {
				var e jetstream.KeyValueEntry
				select {
				case <-restart:
					break watch
				case u, ok := <-w.Updates():
					if !ok {
						break watch
					}
					e = u
				}
				if e != nil && e.Key() == a.cfg.Name {
					a.members.seenOwn(e.Revision())
				}
				switch {
				case e != nil && e.Key() == AssignmentKey:
					a.members.setAssignment(a.decodeAssignment(e), e.Revision())
					if !loaded {
						continue
					}
				case e == nil: // the bucket's contents are in
					a.members.set(initial)
					loaded = true
				case !loaded && e.Operation() == jetstream.KeyValuePut:
					initial[e.Key()] = e.Created()
					continue
				case !loaded:
					delete(initial, e.Key())
					continue
				case e.Operation() == jetstream.KeyValuePut:
					a.members.put(e.Key(), e.Created())
					if e.Key() == a.cfg.Name {
						continue // our own heartbeat: not a membership change
					}
				default: // a graceful leave or an expiry marker
					a.members.del(e.Key())
				}
				select {
				case changed <- struct{}{}:
				default:
				}
			}
			w.Stop()
		}
	}()
	tick := time.NewTicker(a.cfg.Membership.Heartbeat)
	defer tick.Stop()
	// Heartbeat on the ticker only: beating on a change made the watcher
	// report the beat as the next change, a loop that created and deleted
	// a KV watcher (Keys) hundreds of times a second, every one of them
	// propagated as LS+/LS- to every leaf (megabytes per minute on each
	// site's uplink, measured by testbench/backhaul).
	beat := true
	for {
		if beat {
			// A watcher whose ordered consumer sat on a server that died
			// delivers nothing until the client notices missing consumer
			// heartbeats (about 10 s), while heartbeats age in the view and
			// live members look dead. Noticing that our own heartbeat,
			// acknowledged half a period ago, was not delivered restarts it
			// within one heartbeat instead.
			// Until it is back, the assignment is read directly (a direct
			// get, served by any replica), so that this member follows a
			// new assignment within a heartbeat even so.
			if a.members.behind(time.Now(), a.cfg.Membership.Heartbeat/2) {
				a.log.Warn("membership: the bucket watcher is behind; restarting it")
				select {
				case restart <- struct{}{}:
				default:
				}
				a.fetchAssignment(ctx)
			}
			if err := a.beat(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("membership", "err", err)
			}
		}
		a.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			beat = true
		case <-changed:
			beat = false
		}
	}
}

// AssignmentKey is the membership bucket key that holds the agreed
// partition assignment. Member names cannot contain '/' (config.validKey),
// so it never names a member.
const AssignmentKey = "ring/assignment"

// assignment is the value under AssignmentKey: which member consumes each
// partition, for which member set. Members agree on it through the
// bucket's Raft group: a member whose view of the live members differs
// from Members writes the ring.Rebalance of it with a compare-and-set on
// the key's revision, and every member consumes what the stored value
// gives it.
type assignment struct {
	Epoch      uint64    `json:"epoch"`      // incremented by every write
	Partitions int       `json:"partitions"` // P
	Members    []string  `json:"members"`    // sorted
	Owners     []string  `json:"owners"`     // partition → member
	By         string    `json:"by"`         // the member that wrote it
	At         time.Time `json:"at"`

	ring *ring.Ring // built from Members and Owners, checked
}

// decodeAssignment decodes and checks a stored assignment. It returns nil
// (logged and counted) for a delete marker or a value that cannot be used;
// the next write replaces it.
func (a *Aggregator) decodeAssignment(e jetstream.KeyValueEntry) *assignment {
	if e.Operation() != jetstream.KeyValuePut {
		return nil
	}
	as, err := parseAssignment(e.Value(), a.cfg.Partitions)
	if err != nil {
		a.members.badAssign.Add(1)
		a.log.Warn("membership: ignoring the stored assignment", "key", AssignmentKey, "revision", e.Revision(), "err", err)
		return nil
	}
	return as
}

// parseAssignment decodes a stored assignment and checks it against the
// partition count: one owner per partition, every owner a member, members
// sorted and distinct.
func parseAssignment(data []byte, partitions int) (*assignment, error) {
	var as assignment
	if err := json.Unmarshal(data, &as); err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	if as.Partitions != partitions {
		return nil, fmt.Errorf("assignment: %d partitions, configured %d", as.Partitions, partitions)
	}
	if !slices.IsSorted(as.Members) {
		return nil, fmt.Errorf("assignment: members %v not sorted", as.Members)
	}
	ms := make([]ring.Member, len(as.Members))
	for i, m := range as.Members {
		ms[i] = ring.Member{ID: m}
	}
	r, err := ring.FromAssignment(ring.Options{Partitions: partitions}, ms, as.Owners)
	if err != nil {
		return nil, fmt.Errorf("assignment: %w", err)
	}
	as.ring = r
	return &as, nil
}

// reconcile makes the stored assignment match the live members (writing a
// new one when they differ) and starts and stops partition consumers to
// match the stored assignment.
func (a *Aggregator) reconcile(ctx context.Context) {
	cur, rev, age, ready := a.members.assignment()
	if !ready {
		return // the watcher has not delivered the bucket: the revision is unknown
	}
	members, err := a.liveMembers(ctx)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			a.log.Warn("membership", "err", err)
		}
	case cur != nil && slices.Equal(cur.Members, members):
		// The stored assignment is current.
	case a.members.behind(time.Now(), a.cfg.Membership.Heartbeat/2):
		// The view is stale (the watcher restarts): writing it would move
		// partitions of members that only look dead.
		a.log.Debug("membership: the watcher is behind; not rebalancing", "live", members)
	case cur != nil && cur.By != a.cfg.Name && age < a.cfg.Membership.Heartbeat:
		// Another member wrote it less than a heartbeat ago for a view
		// that differs from ours (a heartbeat one of us saw late, clock
		// skew): wait for the next tick rather than overwrite each other
		// on every watch event. A real change reaches the writer too,
		// which rewrites at once.
		a.log.Debug("membership: views differ; deferring to the next heartbeat", "stored", cur.Members, "live", members, "by", cur.By)
	default:
		next, nextRev, err := a.propose(ctx, cur, rev, members)
		switch {
		case err == nil:
			a.members.setAssignment(next, nextRev)
			cur, _, _, _ = a.members.assignment()
		case isCASConflict(err):
			// Another member wrote first: read its value now (the watcher
			// brings it too, with a new reconcile).
			a.log.Debug("membership: assignment written by another member", "revision", rev)
			a.fetchAssignment(ctx)
			cur, _, _, _ = a.members.assignment()
		case ctx.Err() == nil:
			a.log.Warn("membership", "err", err)
		}
	}
	if cur == nil {
		return
	}
	a.adopt(ctx, cur)
}

// fetchAssignment reads the stored assignment directly, for when the
// watcher may be late.
func (a *Aggregator) fetchAssignment(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Membership.Heartbeat)
	defer cancel()
	e, err := a.kv.Get(ctx, AssignmentKey)
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) && ctx.Err() == nil {
			a.log.Debug("membership: reading the assignment", "err", err)
		}
		return
	}
	a.members.setAssignment(a.decodeAssignment(e), e.Revision())
}

// propose writes the rebalance of cur for members under AssignmentKey,
// expecting the key at revision rev (0: absent), and returns it with its
// revision. The value never expires (Nats-TTL: never overrides the
// bucket's TTL, which is for the heartbeats).
func (a *Aggregator) propose(ctx context.Context, cur *assignment, rev uint64, members []string) (*assignment, uint64, error) {
	rm := make([]ring.Member, len(members))
	for i, m := range members {
		rm[i] = ring.Member{ID: m}
	}
	var prev []string
	var epoch uint64
	if cur != nil {
		prev, epoch = cur.Owners, cur.Epoch
	}
	r, err := ring.Rebalance(ring.Options{Partitions: a.cfg.Partitions}, prev, rm)
	if err != nil {
		return nil, 0, fmt.Errorf("aggregator: rebalancing for %v: %w", members, err)
	}
	next := &assignment{Epoch: epoch + 1, Partitions: a.cfg.Partitions, Members: members, Owners: r.Assignment(),
		By: a.cfg.Name, At: time.Now().UTC(), ring: r}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, 0, fmt.Errorf("aggregator: encoding the assignment: %w", err)
	}
	msg := nats.NewMsg("$KV." + a.cfg.Membership.Bucket + "." + AssignmentKey)
	msg.Data = data
	msg.Header.Set(jetstream.MsgTTLHeader, "never")
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Membership.Heartbeat)
	defer cancel()
	ack, err := a.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(rev))
	if err != nil {
		return nil, 0, fmt.Errorf("aggregator: writing %s/%s at revision %d: %w", a.cfg.Membership.Bucket, AssignmentKey, rev, err)
	}
	return next, ack.Sequence, nil
}

// isCASConflict reports whether a write failed because the key's revision
// was not the expected one (10071, or 10164 on replicated streams).
func isCASConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// adopt starts and stops partition consumers to match the stored
// assignment, logging the change when it is a new one.
func (a *Aggregator) adopt(ctx context.Context, as *assignment) {
	a.mu.Lock()
	old := a.ring
	changed := old != as.ring
	if changed {
		a.ring, a.memberIDs = as.ring, slices.Clone(as.Members)
	}
	a.mu.Unlock()
	if changed {
		moves, _ := ring.Diff(old, as.ring)
		gained, lost := 0, 0
		for _, m := range moves {
			switch a.cfg.Name {
			case m.To:
				gained++
			case m.From:
				lost++
			}
		}
		a.log.Info("membership changed", "member", a.cfg.Name, "members", as.Members, "epoch", as.Epoch, "by", as.By,
			"moved", len(moves), "gained", gained, "lost", lost, "owned", len(as.ring.Partitions(a.cfg.Name)))
		a.rebalances.Add(1)
	}
	a.parts.set(ctx, as.ring.Partitions(a.cfg.Name))
}
