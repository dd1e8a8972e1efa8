package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
