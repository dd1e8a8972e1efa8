package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// partitions runs one Consume per owned partition, handing each
// partition's messages to apply (the ingest pipeline) in batches. set is
// called from the membership loop only; owned is safe from any goroutine.
type partitions struct {
	js       jetstream.JetStream
	log      *slog.Logger
	member   string // this member's name, for the log
	ackWait  time.Duration
	replicas int
	apply    func(context.Context, []jetstream.Msg)

	mu      sync.Mutex
	running map[int]jetstream.ConsumeContext
	failing map[int]bool // partitions whose consumer could not start (logged once)
}

func newPartitions(js jetstream.JetStream, log *slog.Logger, member string, ackWait time.Duration, replicas int,
	apply func(context.Context, []jetstream.Msg)) *partitions {
	return &partitions{js: js, log: log, member: member, ackWait: ackWait, replicas: replicas, apply: apply,
		running: make(map[int]jetstream.ConsumeContext), failing: make(map[int]bool)}
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
		ps.log.Info("stopped partitions", "member", ps.member, "partitions", lost)
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
					ps.log.Warn("starting partition consumer; will retry", "partition", p, "err", err)
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
		ps.log.Info("started partitions", "member", ps.member, "partitions", started)
	}
}

// start creates (idempotently) and consumes partition p's durable consumer.
func (ps *partitions) start(ctx context.Context, p int) (jetstream.ConsumeContext, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cons, err := ps.js.CreateOrUpdateConsumer(cctx, StreamName, jetstream.ConsumerConfig{
		Durable:       ConsumerName(p),
		Description:   "Edgepulse partition consumer, consumed by the partition's ring owner",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ps.ackWait,
		MaxAckPending: 1000,
		FilterSubject: PartitionSubject(p),
		Replicas:      ps.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", ConsumerName(p), err)
	}
	q := newPartQueue(ps.ackWait)
	cc, err := cons.Consume(q.put,
		jetstream.PullMaxMessages(partPull),
		// Short pull requests: a request left on the server by a member
		// that died or lost the partition expires sooner, so fewer
		// batches wait out AckWait on it.
		jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) || ctx.Err() == nil {
				ps.log.Debug("partition consumer", "partition", p, "err", err)
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", ConsumerName(p), err)
	}
	go q.run(ctx, cc, ps.apply)
	return &queuedConsume{ConsumeContext: cc, q: q}, nil
}

// partBatch is the most messages of a partition applied in one Redis round
// trip and waiting for the worker; partPull is the most each pull asks
// for. They are small because a delivered message's AckWait runs while it
// waits: with P partitions about P·(partBatch+partPull) messages are
// delivered and not acknowledged, and at T frames/s they wait about
// P·(partBatch+partPull)/T (1.5k at 300/s: 5 s, half the default AckWait).
// Messages waiting in the worker's queue are kept alive; those still in
// the client library's buffer (at most partPull) are not.
const (
	partBatch = 16
	partPull  = 8
)

// partQueue hands a partition's delivered messages to one worker that
// applies them in batches, in delivery order. The consume callback blocks
// while partBatch messages wait, so at most about 2·partBatch are
// delivered and not yet acknowledged. Messages that wait longer than a
// third of AckWait are marked in progress, so a slow Redis does not get
// them redelivered (a redelivery of an applied frame is a duplicate, but
// costs a decode and an ack).
type partQueue struct {
	ackWait time.Duration
	slots   chan struct{} // one per waiting message
	wake    chan struct{}
	done    chan struct{} // closed when the worker has handled everything

	mu   sync.Mutex
	msgs []waiting
	quit bool
}

type waiting struct {
	m  jetstream.Msg
	at time.Time // delivered, or last marked in progress
}

func newPartQueue(ackWait time.Duration) *partQueue {
	return &partQueue{ackWait: ackWait, slots: make(chan struct{}, partBatch), wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// put is the consume callback.
func (q *partQueue) put(m jetstream.Msg) {
	select {
	case q.slots <- struct{}{}:
	case <-q.done:
		m.Nak() // the worker is gone: hand it back
		return
	}
	q.mu.Lock()
	q.msgs = append(q.msgs, waiting{m, time.Now()})
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes up to partBatch waiting messages.
func (q *partQueue) take(dst []jetstream.Msg) []jetstream.Msg {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(len(q.msgs), partBatch)
	for _, w := range q.msgs[:n] {
		dst = append(dst, w.m)
	}
	q.msgs = append(q.msgs[:0], q.msgs[n:]...)
	for range n {
		<-q.slots
	}
	return dst
}

// run applies batches until the consumer is stopped and drained.
func (q *partQueue) run(ctx context.Context, cc jetstream.ConsumeContext, apply func(context.Context, []jetstream.Msg)) {
	defer close(q.done)
	tick := time.NewTicker(max(q.ackWait/3, 100*time.Millisecond))
	defer tick.Stop()
	var batch []jetstream.Msg
	closed := cc.Closed()
	for {
		select {
		case <-q.wake:
		case <-tick.C:
			q.keepAlive()
			continue
		case <-closed:
			closed = nil
			// Messages delivered before the drain ended are applied below;
			// then the worker stops.
		}
		for {
			batch = q.take(batch[:0])
			if len(batch) == 0 {
				break
			}
			apply(ctx, batch)
			q.keepAlive()
		}
		if closed == nil {
			return
		}
	}
}

// keepAlive marks messages that have waited a third of AckWait in progress.
func (q *partQueue) keepAlive() {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.msgs {
		if now.Sub(q.msgs[i].at) >= q.ackWait/3 {
			q.msgs[i].m.InProgress()
			q.msgs[i].at = now
		}
	}
}

// queuedConsume is a partition's consumer and its worker: Closed reports
// when both are done.
type queuedConsume struct {
	jetstream.ConsumeContext
	q *partQueue
}

func (c *queuedConsume) Closed() <-chan struct{} { return c.q.done }

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
