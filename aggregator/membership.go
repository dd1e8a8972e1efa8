package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// memberKV is the membership bucket as membership uses it. Every method
// may be called from the membership loop and the watcher at once, so
// implementations are safe for concurrent use. jetstream.KeyValue provides
// all but CompareAndSet (bucketKV adds it).
type memberKV interface {
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error)
	Keys(ctx context.Context, opts ...jetstream.WatchOpt) ([]string, error)
	Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error
	WatchAll(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error)
	// CompareAndSet writes value under key if the key's last revision is
	// rev (0: the key does not exist) and returns the new revision; the
	// value never expires, whatever the bucket's TTL.
	CompareAndSet(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
}

// bucketKV is the JetStream KV bucket as a memberKV.
type bucketKV struct {
	jetstream.KeyValue
	js     jetstream.JetStream
	bucket string
}

// CompareAndSet publishes to the key's subject with the expected last
// sequence per subject: KeyValue.Update cannot set the per-message TTL
// (Nats-TTL: never overrides the bucket's TTL, which is for heartbeats).
func (b bucketKV) CompareAndSet(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	msg := nats.NewMsg("$KV." + b.bucket + "." + key)
	msg.Data = value
	msg.Header.Set(jetstream.MsgTTLHeader, "never")
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(rev))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// ensureMembers creates or updates the membership bucket: one key per
// member, refreshed every heartbeat, gone TTL after the last one. The
// limit markers make an expiry visible to watchers.
func ensureMembers(ctx context.Context, js jetstream.JetStream, cfg MembershipConfig, replicas int) (memberKV, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         cfg.Bucket,
		Description:    "Edgepulse aggregator ring members (key = member name, refreshed by heartbeats)",
		History:        1,
		TTL:            cfg.TTL,
		LimitMarkerTTL: max(cfg.TTL, time.Second),
		Storage:        jetstream.FileStorage,
		Replicas:       replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("aggregator: membership bucket %s: %w", cfg.Bucket, err)
	}
	return bucketKV{KeyValue: kv, js: js, bucket: cfg.Bucket}, nil
}

// membership keeps this member in the ring: it heartbeats into the
// bucket, follows it (memberWatcher), agrees with the other members on
// the stored partition assignment by compare-and-set, and hands the
// partitions the assignment gives this member to consume. It owns the
// assignment this member consumes by (current).
type membership struct {
	cfg        MembershipConfig
	name       string
	partitions int      // P
	beatValue  []byte   // this member's heartbeat value
	kv         memberKV // the bucket
	log        *slog.Logger
	consume    func(ctx context.Context, partitions []int) // starts and stops partition consumers

	view       memberView
	rebalances atomic.Uint64 // new assignments adopted

	mu      sync.Mutex
	ring    *ring.Ring // the adopted assignment, nil before the first
	members []string   // its members
}

func newMembership(cfg MembershipConfig, name string, partitions int, hb heartbeat, kv memberKV, log *slog.Logger,
	consume func(context.Context, []int)) *membership {
	v, _ := json.Marshal(hb) // plain data: cannot fail
	return &membership{cfg: cfg, name: name, partitions: partitions, beatValue: v, kv: kv, log: log, consume: consume}
}

// current returns the adopted assignment's ring and members.
func (ms *membership) current() (*ring.Ring, []string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.ring, slices.Clone(ms.members)
}

// beat writes this member's heartbeat.
func (ms *membership) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ms.cfg.Heartbeat)
	defer cancel()
	rev, err := ms.kv.Put(ctx, ms.name, ms.beatValue)
	if err != nil {
		return fmt.Errorf("aggregator: heartbeat %s/%s: %w", ms.cfg.Bucket, ms.name, err)
	}
	ms.view.acked(rev, time.Now())
	return nil
}

// leave deletes this member's key, so the others take its partitions at
// once instead of after the TTL.
func (ms *membership) leave(ctx context.Context) error {
	return ms.kv.Delete(ctx, ms.name)
}

// liveMembers lists the members with a live heartbeat, always including
// this one (a member never considers itself dead), sorted. It reads the
// watcher's view; only before the watcher has delivered the bucket does
// it list the bucket's keys.
func (ms *membership) liveMembers(ctx context.Context) ([]string, error) {
	keys, ok := ms.view.live(ms.cfg.TTL, time.Now())
	if !ok {
		ctx, cancel := context.WithTimeout(ctx, ms.cfg.Heartbeat)
		defer cancel()
		var err error
		keys, err = ms.kv.Keys(ctx)
		if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, fmt.Errorf("aggregator: list %s: %w", ms.cfg.Bucket, err)
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == AssignmentKey })
	}
	if !slices.Contains(keys, ms.name) {
		keys = append(keys, ms.name)
	}
	slices.Sort(keys)
	return keys, nil
}

// run heartbeats, follows the bucket and rebalances the partition
// consumers until ctx is done. It reconciles on every heartbeat and on
// every change the watcher reports (a join, a graceful leave, an expiry
// marker).
func (ms *membership) run(ctx context.Context) {
	w := newMemberWatcher(ms.kv, ms.name, &ms.view, ms.decodeAssignment, ms.cfg.Heartbeat, ms.log)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { w.run(ctx) })
	tick := time.NewTicker(ms.cfg.Heartbeat)
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
			if ms.view.behind(time.Now(), ms.cfg.Heartbeat/2) {
				ms.log.Warn("membership: the bucket watcher is behind; restarting it")
				w.restartWatch()
				ms.fetchAssignment(ctx)
			}
			if err := ms.beat(ctx); err != nil && ctx.Err() == nil {
				ms.log.Warn("membership", "err", err)
			}
		}
		ms.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			beat = true
		case <-w.changed:
			beat = false
		}
	}
}

// decodeAssignment decodes and checks a stored assignment. It returns nil
// (logged and counted) for a delete marker or a value that cannot be used;
// the next write replaces it.
func (ms *membership) decodeAssignment(e jetstream.KeyValueEntry) *assignment {
	if e.Operation() != jetstream.KeyValuePut {
		return nil
	}
	as, err := parseAssignment(e.Value(), ms.partitions)
	if err != nil {
		ms.view.badAssign.Add(1)
		ms.log.Warn("membership: ignoring the stored assignment", "key", AssignmentKey, "revision", e.Revision(), "err", err)
		return nil
	}
	return as
}

// reconcile makes the stored assignment match the live members (writing a
// new one when they differ) and starts and stops partition consumers to
// match the stored assignment.
func (ms *membership) reconcile(ctx context.Context) {
	cur, rev, age, ready := ms.view.assignment()
	if !ready {
		return // the watcher has not delivered the bucket: the revision is unknown
	}
	members, err := ms.liveMembers(ctx)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			ms.log.Warn("membership", "err", err)
		}
	case cur != nil && slices.Equal(cur.Members, members):
		// The stored assignment is current.
	case ms.view.behind(time.Now(), ms.cfg.Heartbeat/2):
		// The view is stale (the watcher restarts): writing it would move
		// partitions of members that only look dead.
		ms.log.Debug("membership: the watcher is behind; not rebalancing", "live", members)
	case cur != nil && cur.By != ms.name && age < ms.cfg.Heartbeat:
		// Another member wrote it less than a heartbeat ago for a view
		// that differs from ours (a heartbeat one of us saw late, clock
		// skew): wait for the next tick rather than overwrite each other
		// on every watch event. A real change reaches the writer too,
		// which rewrites at once.
		ms.log.Debug("membership: views differ; deferring to the next heartbeat", "stored", cur.Members, "live", members, "by", cur.By)
	default:
		next, nextRev, err := ms.propose(ctx, cur, rev, members)
		switch {
		case err == nil:
			ms.view.setAssignment(next, nextRev)
			cur, _, _, _ = ms.view.assignment()
		case isCASConflict(err):
			// Another member wrote first: read its value now (the watcher
			// brings it too, with a new reconcile).
			ms.log.Debug("membership: assignment written by another member", "revision", rev)
			ms.fetchAssignment(ctx)
			cur, _, _, _ = ms.view.assignment()
		case ctx.Err() == nil:
			ms.log.Warn("membership", "err", err)
		}
	}
	if cur == nil {
		return
	}
	ms.adopt(ctx, cur)
}

// fetchAssignment reads the stored assignment directly, for when the
// watcher may be late.
func (ms *membership) fetchAssignment(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, ms.cfg.Heartbeat)
	defer cancel()
	e, err := ms.kv.Get(ctx, AssignmentKey)
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyNotFound) && ctx.Err() == nil {
			ms.log.Debug("membership: reading the assignment", "err", err)
		}
		return
	}
	ms.view.setAssignment(ms.decodeAssignment(e), e.Revision())
}

// propose writes the rebalance of cur for members under AssignmentKey,
// expecting the key at revision rev (0: absent), and returns it with its
// revision.
func (ms *membership) propose(ctx context.Context, cur *assignment, rev uint64, members []string) (*assignment, uint64, error) {
	rm := make([]ring.Member, len(members))
	for i, m := range members {
		rm[i] = ring.Member{ID: m}
	}
	var prev []string
	var epoch uint64
	if cur != nil {
		prev, epoch = cur.Owners, cur.Epoch
	}
	r, err := ring.Rebalance(ring.Options{Partitions: ms.partitions}, prev, rm)
	if err != nil {
		return nil, 0, fmt.Errorf("aggregator: rebalancing for %v: %w", members, err)
	}
	next := &assignment{Epoch: epoch + 1, Partitions: ms.partitions, Members: members, Owners: r.Assignment(),
		By: ms.name, At: time.Now().UTC(), ring: r}
	data, err := json.Marshal(next)
	if err != nil {
		return nil, 0, fmt.Errorf("aggregator: encoding the assignment: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, ms.cfg.Heartbeat)
	defer cancel()
	seq, err := ms.kv.CompareAndSet(ctx, AssignmentKey, data, rev)
	if err != nil {
		return nil, 0, fmt.Errorf("aggregator: writing %s/%s at revision %d: %w", ms.cfg.Bucket, AssignmentKey, rev, err)
	}
	return next, seq, nil
}

// adopt starts and stops partition consumers to match the stored
// assignment, logging the change when it is a new one.
func (ms *membership) adopt(ctx context.Context, as *assignment) {
	ms.mu.Lock()
	old := ms.ring
	changed := old != as.ring
	if changed {
		ms.ring, ms.members = as.ring, slices.Clone(as.Members)
	}
	ms.mu.Unlock()
	if changed {
		moves, _ := ring.Diff(old, as.ring)
		gained, lost := 0, 0
		for _, m := range moves {
			switch ms.name {
			case m.To:
				gained++
			case m.From:
				lost++
			}
		}
		ms.log.Info("membership changed", "member", ms.name, "members", as.Members, "epoch", as.Epoch, "by", as.By,
			"moved", len(moves), "gained", gained, "lost", lost, "owned", len(as.ring.Partitions(ms.name)))
		ms.rebalances.Add(1)
	}
	ms.consume(ctx, as.ring.Partitions(ms.name))
}
