package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// liveMembers lists the members with a live heartbeat, always including
// this one (a member never considers itself dead), sorted.
func (a *Aggregator) liveMembers(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Membership.Heartbeat)
	defer cancel()
	keys, err := a.kv.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, fmt.Errorf("aggregator: list %s: %w", a.cfg.Membership.Bucket, err)
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
			w, err := a.kv.WatchAll(ctx, jetstream.UpdatesOnly())
			if err != nil {
				a.log.Debug("membership watch", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(a.cfg.Membership.Heartbeat):
				}
				continue
			}
			for e := range w.Updates() {
				if e != nil && e.Key() == a.cfg.Name && e.Operation() == jetstream.KeyValuePut {
					continue // our own heartbeat: not a membership change
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
