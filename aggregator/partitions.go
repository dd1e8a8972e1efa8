package aggregator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerName is the durable consumer of partition p.
func ConsumerName(p int) string { return fmt.Sprintf("part-%d", p) }

// PartitionSubject is the stream subject filter of partition p.
func PartitionSubject(p int) string { return fmt.Sprintf("tele.*.*.%d", p) }

// partitions runs one Consume per owned partition. set is called from the
// membership loop only; owned is safe from any goroutine.
type partitions struct {
	a *Aggregator

	mu      sync.Mutex
	running map[int]jetstream.ConsumeContext
	failing map[int]bool // partitions whose consumer could not start (logged once)
}

func newPartitions(a *Aggregator) *partitions {
	return &partitions{a: a, running: make(map[int]jetstream.ConsumeContext), failing: make(map[int]bool)}
}

// owned returns the partitions being consumed, ascending.
func (ps *partitions) owned() []int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Sorted(maps.Keys(ps.running))
}

// set stops the consumers of partitions not in want (draining: messages
// already fetched are handled and acknowledged) and starts those of the
// partitions in want that are not running. A partition that fails to start
// is retried on the next call.
func (ps *partitions) set(ctx context.Context, want []int) {
	wantSet := make(map[int]bool, len(want))
	for _, p := range want {
		wantSet[p] = true
	}
	ps.mu.Lock()
	var lost []int
	for p, cc := range ps.running {
		if !wantSet[p] {
			cc.Drain()
			delete(ps.running, p)
			lost = append(lost, p)
		}
	}
	var gain []int
	for _, p := range want {
		if _, ok := ps.running[p]; !ok {
			gain = append(gain, p)
		}
	}
	ps.mu.Unlock()
	if len(lost) > 0 {
		slices.Sort(lost)
		ps.a.log.Info("stopped partitions", "member", ps.a.cfg.Name, "partitions", lost)
	}
	if len(gain) == 0 {
		return
	}
	// Start in parallel: after a member dies each start may wait for the
	// consumer's Raft group to elect a new leader.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var started []int
	for _, p := range gain {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cc, err := ps.start(ctx, p)
			ps.mu.Lock()
			defer ps.mu.Unlock()
			if err != nil {
				if !ps.failing[p] && ctx.Err() == nil {
					ps.a.log.Warn("starting partition consumer; will retry", "partition", p, "err", err)
				}
				ps.failing[p] = true
				return
			}
			delete(ps.failing, p)
			ps.running[p] = cc
			started = append(started, p)
		})
	}
	wg.Wait()
	if len(started) > 0 {
		slices.Sort(started)
		ps.a.log.Info("started partitions", "member", ps.a.cfg.Name, "partitions", started)
	}
}

// start creates (idempotently) and consumes partition p's durable consumer.
func (ps *partitions) start(ctx context.Context, p int) (jetstream.ConsumeContext, error) {
	a := ps.a
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := a.js.CreateOrUpdateConsumer(cctx, StreamName, jetstream.ConsumerConfig{
		Durable:       ConsumerName(p),
		Description:   "Edgepulse partition consumer, consumed by the partition's ring owner",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       a.cfg.AckWait,
		MaxAckPending: 1000,
		FilterSubject: PartitionSubject(p),
		Replicas:      a.cfg.replicas(),
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ConsumerName(p), err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { a.handle(ctx, m) },
		jetstream.PullMaxMessages(64),
		// Short pull requests: a request left on the server by a member
		// that died or lost the partition expires sooner, so fewer
		// batches wait out AckWait on it.
		jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) || ctx.Err() == nil {
				a.log.Debug("partition consumer", "partition", p, "err", err)
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", ConsumerName(p), err)
	}
	return cc, nil
}

// stopAll drains every consumer and waits up to timeout for the drains.
func (ps *partitions) stopAll(timeout time.Duration) {
	ps.mu.Lock()
	ccs := slices.Collect(maps.Values(ps.running))
	clear(ps.running)
	ps.mu.Unlock()
	for _, cc := range ccs {
		cc.Drain()
	}
	deadline := time.After(timeout)
	for _, cc := range ccs {
		select {
		case <-cc.Closed():
		case <-deadline:
			return
		}
	}
}
