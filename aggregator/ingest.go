package aggregator

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/console"
	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// The ingest pipeline: how a partition's messages become stored windows.
// Read top to bottom: handleBatch parses each frame (codec.ParseFrame),
// decodes it with the agent's decoder (wire.go: decoders), validates it
// (rejected: validate.go's rules and cardinality caps), checks its clock
// (clock.go), and queues its writes; flush sends them to Redis in one
// pipelined round trip, then acknowledges the messages and republishes
// the incidents (alerts.go), or hands them back to be redelivered.

// ingest applies the partitions' messages. It is called by every
// partition's worker at once: its counters are atomic, wire and guard
// lock for themselves, perPart is under mu.
type ingest struct {
	log       *slog.Logger
	store     *store.Store
	wire      *decoders       // per-agent frame decoders (wire.go)
	guard     *guard          // batch validation and cardinality caps (validate.go)
	clock     *clockCheck     // windows stamped far from the hub's clock (clock.go)
	keyframes *keyframes      // asks agents whose chain broke (keyframe.go)
	alerts    *alertPublisher // incidents on alerts.> (alerts.go)
	health    *storeHealth    // Redis failures, for readiness (health.go)
	durable   *durability     // acks held until Redis persisted (durable.go)
	// Set by New once built; they see each applied frame.
	regions *regionsExtras   // pre-aggregates and path latency (regions.go)
	console *console.Console // pushes to the web console (aggregator/console)

	applied, decodeErrs, rollups, redelivered  atomic.Uint64
	duplicates, baseWaits, baseLost, wireBytes atomic.Uint64

	mu      sync.Mutex
	perPart map[int]uint64 // applied batches by partition

	writeNs atomic.Int64 // time spent in Redis batch writes
	// writeSlots bounds the pipelined writes in flight (concurrentWrites).
	writeSlots chan struct{}
	// baseGrace is the baseGrace constant; tests shorten it.
	baseGrace atomic.Int64
}

func newIngest(log *slog.Logger, st *store.Store, batches BatchLimits, clock ClockConfig, kf *keyframes, alerts *alertPublisher,
	health *storeHealth) *ingest {
	in := &ingest{log: log, store: st, wire: newDecoders(), guard: newGuard(batches), clock: newClockCheck(clock, log),
		keyframes: kf, alerts: alerts, health: health, perPart: make(map[int]uint64),
		writeSlots: make(chan struct{}, concurrentWrites)}
	in.baseGrace.Store(int64(baseGrace))
	return in
}

// partitionCounts returns the applied batches by partition.
func (in *ingest) partitionCounts() map[int]uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return maps.Clone(in.perPart)
}

// A delta frame whose base is missing waits for it (it may sit behind it
// in the stream, resent) while the agent is asked for a keyframe at once.
// It is dropped and counted when the agent's chain has moved past it (a
// later frame, the keyframe, is applied here) and it has waited baseGrace
// since it was stored in the stream, or, whatever happens, after
// baseGiveUp in the stream. Agents send periodic keyframes, so the chain
// moves on while the agent lives; the give-up bounds the redeliveries of
// frames of an agent that is gone.
const (
	baseGrace  = 30 * time.Second
	baseGiveUp = 24 * time.Hour
)

// A message put back (Redis failing, or a base missing for longer than
// baseGrace) is redelivered after retryFirst, doubling per delivery up to
// retryMax: during a Redis outage each waiting frame costs one delivery
// per retryMax, not one per 2 s. A frame younger than baseGrace waiting
// for its base comes back every retryFirst (order.go: baseWaitDelay).
const (
	retryFirst = 2 * time.Second
	retryMax   = 16 * time.Second
)

// retryDelay is the redelivery delay of m after its nth delivery.
func retryDelay(m jetstream.Msg) time.Duration {
	md, err := m.Metadata()
	if err != nil || md.NumDelivered <= 1 {
		return retryFirst
	}
	return backoff(md.NumDelivered)
}

func backoff(delivered uint64) time.Duration {
	d := retryFirst
	for i := uint64(1); i < delivered && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// writeTimeout bounds one pipelined write; concurrentWrites is how many
// partitions' writes are in flight at once.
const (
	writeTimeout     = 10 * time.Second
	concurrentWrites = 4
)

// pending is a message whose writes are queued in the write being built.
type pending struct {
	m    jetstream.Msg
	f    *codec.Frame
	b    *codec.Batch // nil for a second copy of a frame in the write
	incs []store.Incident
	// epoch is the durability epoch its frame was decoded in (durable.go).
	epoch uint64
}

// handleBatch applies a partition's messages: it decodes them in order and
// sends the writes of all of them — rollups, hourly tier, incidents,
// backhaul meter, and last the agents' decoder states — in one pipelined
// round trip, then acknowledges them. A message that cannot be decoded is
// terminated (never redelivered); when the write fails, every message of
// it is redelivered after a delay.
func (in *ingest) handleBatch(ctx context.Context, msgs []jetstream.Msg) {
	if ctx.Err() != nil {
		// Shutting down or handing the partition over: give them back now
		// rather than after AckWait.
		for _, m := range msgs {
			m.Nak()
		}
		return
	}
	wctx := ctx
	epoch := in.durable.epoch()
	w := in.store.NewWrite()
	var queued []pending
	// failed are agents one of whose frames could not be queued: their
	// later frames in this batch would decode on it, so they wait too.
	var failed map[string]bool
	for _, fm := range inAgentOrder(msgs) { // order.go: the stream may swap an agent's frames
		m, f, err := fm.m, fm.f, fm.err
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			in.redelivered.Add(1)
		}
		if err != nil {
			in.decodeErrs.Add(1)
			in.log.Warn("rejecting frame", "subject", m.Subject(), "bytes", len(m.Data()), "err", err)
			m.TermWithReason(err.Error())
			continue
		}
		if in.forged(m, f) {
			continue
		}
		if in.durable.mustWait(f.Agent, f.Seq, in.wire.newest(f.Agent)) {
			m.NakWithDelay(replayRetry) // its replayed frames first (durable.go)
			continue
		}
		if failed[f.Agent] {
			m.NakWithDelay(retryDelay(m))
			continue
		}
		b, err := in.wire.decode(wctx, in.store, f)
		switch {
		case errors.Is(err, errDuplicate):
			in.duplicates.Add(1)
			if errors.Is(err, errRebuilt) {
				// Rare: a member stopped in the middle of a write (wire.go: rebuild).
				in.log.Info("frame applied without its decoder state; state rebuilt for the frames after it",
					"agent", f.Agent, "seq", f.Seq, "base", f.Base)
			}
			in.durable.passed(f.Agent, f.Seq)
			m.Ack()
			continue
		case errors.Is(err, errPendingDuplicate):
			in.duplicates.Add(1)
			queued = append(queued, pending{m: m, f: f, epoch: epoch}) // acknowledged with the write
			continue
		case errors.Is(err, codec.ErrBaseMissing):
			// The frame it was packed against has not been applied here, and
			// the state saved in Redis is older (or missing: Redis restarted
			// on an older snapshot, or empty). Ask the agent for a keyframe
			// now; the frame waits in case its base is only behind it.
			in.keyframes.ask(f.Site, f.Host)
			in.durable.baseMissing(f.Agent, f.Seq, err)
			var age time.Duration
			if md, merr := m.Metadata(); merr == nil {
				age = time.Since(md.Timestamp)
			}
			grace := time.Duration(in.baseGrace.Load())
			if newest := in.wire.newest(f.Agent); (newest > f.Seq && age >= grace) || age >= baseGiveUp {
				in.baseLost.Add(1)
				// base_applied tells a base that never reached this tier from
				// one applied (by any member) whose decoder state was lost.
				_, _, baseApplied, _ := in.store.WireStateFor(wctx, f.Agent, f.Base)
				in.log.Error("dropping frame whose base never arrived", "subject", m.Subject(), "agent", f.Agent, "seq", f.Seq, "base", f.Base,
					"base_applied", baseApplied, "newest_applied", newest, "age", age.Round(time.Second), "err", err)
				m.TermWithReason(err.Error())
				continue
			}
			in.baseWaits.Add(1)
			if in.wire.await(f.Agent, f.Base) {
				in.wire.awaitEvicted.Add(1)
			}
			m.NakWithDelay(baseWaitDelay(m, age, grace))
			continue
		case err != nil && (errors.Is(err, codec.ErrMalformed) || errors.Is(err, codec.ErrVersion)):
			in.decodeErrs.Add(1)
			in.log.Warn("rejecting frame", "subject", m.Subject(), "agent", f.Agent, "seq", f.Seq, "err", err)
			m.TermWithReason(err.Error())
			in.keyframes.ask(f.Site, f.Host)
			continue
		case err != nil:
			in.health.failed(err)
			in.log.Warn("loading wire state failed; frame will be redelivered", "agent", f.Agent, "seq", f.Seq, "err", err)
			failed = addFailed(failed, f.Agent)
			m.NakWithDelay(retryDelay(m))
			continue
		}
		if in.rejected(m, b) {
			continue
		}
		if md, err := m.Metadata(); err == nil {
			in.clock.check(b, md.Timestamp)
		}
		if w.ClosesHour(b) && w.Has(b.Agent) {
			// The hour's compaction reads the agent's stored windows: store
			// the ones queued so far first.
			in.flush(wctx, w, queued)
			w, queued = in.store.NewWrite(), nil
		}
		var incs []store.Incident
		err = w.Add(wctx, b)
		if err == nil {
			w.MarkApplied(wctx, f.Agent, f.Seq)
		}
		if err == nil && len(b.Events) > 0 {
			incs = make([]store.Incident, len(b.Events))
			for i := range b.Events {
				incs[i] = store.IncidentOf(b, &b.Events[i])
			}
			err = w.AddIncidents(wctx, incs)
		}
		if errors.Is(err, store.ErrBadWindow) {
			in.decodeErrs.Add(1)
			in.log.Warn("rejecting frame", "subject", m.Subject(), "agent", f.Agent, "seq", f.Seq, "err", err)
			in.wire.discard(f.Agent, f.Seq)
			failed = addFailed(failed, f.Agent)
			m.TermWithReason(err.Error())
			continue
		}
		if err != nil {
			in.health.failed(err)
			in.log.Warn("queueing a batch's writes failed; it will be redelivered", "agent", b.Agent, "seq", b.Seq, "err", err)
			in.wire.discard(f.Agent, f.Seq)
			failed = addFailed(failed, f.Agent)
			m.NakWithDelay(retryDelay(m))
			continue
		}
		queued = append(queued, pending{m: m, f: f, b: b, incs: incs, epoch: epoch})
	}
	in.flush(wctx, w, queued)
}

func addFailed(m map[string]bool, agent string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[agent] = true
	return m
}

// flush adds the backhaul meter and the decoder states to w, sends it and
// acknowledges its messages, or hands them back when the write failed.
func (in *ingest) flush(ctx context.Context, w *store.Write, queued []pending) {
	if len(queued) == 0 {
		return
	}
	var agents []string
	for _, q := range queued {
		if q.b == nil {
			continue
		}
		w.AddBackhaul(ctx, q.f.Site, q.f.Host, len(q.m.Data()), time.UnixMilli(q.f.Start))
		if !slices.Contains(agents, q.f.Agent) {
			agents = append(agents, q.f.Agent)
		}
	}
	in.wire.saveStates(ctx, w, agents)
	if err := in.regions.observePreagg(ctx, queued); err != nil {
		in.log.Warn("pre-aggregation failed; batches will be redelivered", "frames", len(queued), "err", err)
		in.wire.abort(agents)
		for _, q := range queued {
			q.m.NakWithDelay(retryDelay(q.m))
		}
		return
	}
	// Redis runs one command at a time: a few large pipelines in flight
	// keep it busy; 64 partitions' worth would only queue, and time out.
	select {
	case in.writeSlots <- struct{}{}:
	case <-ctx.Done():
	}
	start := time.Now()
	err := ctx.Err()
	if err == nil {
		ectx, cancel := context.WithTimeout(ctx, writeTimeout)
		err = in.durable.write(queued[0].epoch, func() error { return w.Exec(ectx) })
		cancel()
		<-in.writeSlots
	}
	in.writeNs.Add(int64(time.Since(start)))
	if err != nil {
		if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
			// Not this member stopping or handing the partition over.
			in.health.failed(err)
			in.health.writes.fail(err, time.Now())
		}
		in.log.Warn("redis write failed; batches will be redelivered", "frames", len(queued), "reason", store.ErrorReason(err), "err", err)
		// The states decoded for this write are dropped; the applied
		// ones stay: they follow from the frames, whatever Redis kept, so
		// after Redis comes back (even on an older snapshot) the agents'
		// next frames decode here without waiting for a keyframe.
		in.wire.abort(agents)
		for _, q := range queued {
			q.m.NakWithDelay(retryDelay(q.m))
		}
		return
	}
	appliedAt := time.Now()
	in.health.writes.ok(appliedAt)
	in.regions.recordPath(queued, start, appliedAt)
	in.wire.commit(agents)
	in.alerts.publishExpired(w.Expired()) // incidents this write took past redis.incident_open_max
	in.console.Expired(w.Expired(), appliedAt)
	for _, q := range queued {
		if q.b != nil {
			in.wireBytes.Add(uint64(len(q.m.Data())))
			in.applied.Add(1)
			in.rollups.Add(uint64(len(q.b.Rollups)))
			if p, err := strconv.Atoi(q.m.Subject()[strings.LastIndexByte(q.m.Subject(), '.')+1:]); err == nil {
				in.mu.Lock()
				in.perPart[p]++
				in.mu.Unlock()
			}
			in.alerts.publish(q.b, q.incs)
			in.console.Applied(q.b, q.incs, appliedAt)
		}
		in.durable.hold(q.m, q.f.Agent, q.f.Seq)
	}
}

// rejected validates a decoded batch from m: a batch that fails
// validateBatch is counted by reason, logged and terminated (never
// redelivered), its agent's in-memory decoder is dropped (its Redis state
// was not touched) and rejected returns true; otherwise the series over the
// cardinality caps are dropped from b and it returns false.
func (in *ingest) rejected(m jetstream.Msg, b *codec.Batch) bool {
	g := in.guard
	if err := validateBatch(m.Subject(), b, g.lim); err != nil {
		reason := ReasonIdentity
		if re := (*RejectError)(nil); errors.As(err, &re) {
			reason = re.Reason
		}
		g.mu.Lock()
		g.count[reason]++
		g.mu.Unlock()
		in.log.Warn("rejecting batch", "subject", m.Subject(), "reason", reason, "err", err)
		// The agent's decoder advanced over this frame: drop that state.
		in.wire.discard(b.Agent, b.Seq)
		m.TermWithReason(truncate(err.Error()))
		return true
	}
	if n := g.card.admit(b, g.lim); n > 0 {
		in.log.Debug("series over the cardinality cap dropped", "site", b.Site, "host", b.Host, "dropped", n)
	}
	return false
}
