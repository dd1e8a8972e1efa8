package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

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
	if _, err := a.kv.Put(ctx, a.cfg.Name, v); err != nil {
		return fmt.Errorf("aggregator: heartbeat %s/%s: %w", a.cfg.Membership.Bucket, a.cfg.Name, err)
	}
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
			initial := map[string]time.Time{}
			loaded := false
			for e := range w.Updates() {
				switch {
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

// reconcile rebuilds the ring when the live members changed and starts and
// stops partition consumers to match it.
func (a *Aggregator) reconcile(ctx context.Context) {
	members, err := a.liveMembers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("membership", "err", err)
		}
	} else if a.ring == nil || !slices.Equal(members, a.memberIDs) {
		rm := make([]ring.Member, len(members))
		for i, m := range members {
			rm[i] = ring.Member{ID: m}
		}
		r, err := ring.New(ring.Options{Partitions: a.cfg.Partitions}, rm)
		if err != nil {
			a.log.Error("membership: building the ring", "members", members, "err", err)
			return
		}
		moves, _ := ring.Diff(a.ring, r)
		gained, lost := 0, 0
		for _, m := range moves {
			switch a.cfg.Name {
			case m.To:
				gained++
			case m.From:
				lost++
			}
		}
		a.log.Info("membership changed", "member", a.cfg.Name, "members", members, "moved", len(moves),
			"gained", gained, "lost", lost, "owned", len(r.Partitions(a.cfg.Name)))
		a.mu.Lock()
		a.ring, a.memberIDs = r, members
		a.mu.Unlock()
		a.rebalances.Add(1)
	}
	if a.ring != nil {
		a.parts.set(ctx, a.ring.Partitions(a.cfg.Name))
	}
}
