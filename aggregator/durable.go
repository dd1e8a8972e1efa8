package aggregator

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// Redis acknowledges a write once it is in memory; it is on disk only
// after the next RDB snapshot (or AOF fsync). A Redis killed and
// restarted on its last snapshot has lost every write since, and the
// stream — a work queue — has already deleted the batches acknowledged
// for them. So the acknowledgement of an applied batch is held until
// Redis reports a snapshot that began after the write (or, with AOF,
// until it is fsynced): the batch stays in the stream until then.
//
// When Redis comes back as a new process (store.Restarted: its run_id
// changed), the store refuses every new connection until the held
// batches are handed back: the decoder states held in memory of their
// agents are dropped (they are ahead of what Redis kept) and the held messages are
// Nak'ed in the order they were applied, so they are redelivered and
// decode on the state Redis did keep. Those the snapshot had are found
// applied (the agent's applied-sequence set) and acknowledged as
// duplicates; the others are written again. Then the fence lifts.
//
// Bounds: at most maxHeld messages are held (beyond, the oldest is
// acknowledged, counted in HeldAckedEarly) and none longer than maxHold
// (a Redis that never saves). With persistence off (save "" and no AOF)
// nothing is held: a restart comes back empty whatever is kept. Held
// messages count against each partition consumer's MaxAckPending (1000):
// with the default 64 partitions and save 60 1, about 60 s of batches.
const (
	maxHeld = 50_000
	maxHold = 5 * time.Minute
	// persistEvery is how often Redis's persistence is read.
	persistEvery = time.Second
)

type heldMsg struct {
	m        jetstream.Msg
	agent    string
	seq      uint64
	at       time.Time // when the write that applied it was acknowledged
	progress time.Time // last InProgress (or at)
}

// durability holds applied messages' acks until Redis persisted them.
// Safe for concurrent use.
type durability struct {
	st      *store.Store
	wire    *decoders
	log     *slog.Logger
	ackWait time.Duration

	mu   sync.Mutex
	held []heldMsg // in the order applied
	// barrier: after a replay, an agent's frames newer than the newest
	// one handed back wait (Nak'ed) until that one is applied again, or
	// until the barrier's deadline: applied first, a newer frame (or a
	// keyframe it asks for) would move the agent's saved state past the
	// frames being replayed, whose bases would then be lost.
	barrier map[string]replayBarrier
	off     bool // persistence off: ack at once

	replayed, early, restarts atomic.Uint64

	// gen is taken for reading around each write and for writing around
	// a replay; ep counts replays. A write of frames decoded before a
	// replay (on states it dropped) is refused: it would move an agent's
	// saved state past the frames being replayed.
	gen sync.RWMutex
	ep  atomic.Uint64
}

// errStaleEpoch fails a write of frames decoded before a replay; they are
// redelivered and decoded again.
var errStaleEpoch = errors.New("aggregator: frames decoded before a redis restart was handled; redelivering them")

// epoch is the current replay epoch, taken before decoding a batch.
func (d *durability) epoch() uint64 { return d.ep.Load() }

// write runs exec unless a replay happened since epoch e.
func (d *durability) write(e uint64, exec func() error) error {
	d.gen.RLock()
	defer d.gen.RUnlock()
	if d.ep.Load() != e {
		return errStaleEpoch
	}
	return exec()
}

func newDurability(st *store.Store, wire *decoders, ackWait time.Duration, log *slog.Logger) *durability {
	return &durability{st: st, wire: wire, log: log, ackWait: ackWait}
}

type replayBarrier struct {
	from, upTo uint64 // the oldest and newest frame handed back
	deadline   time.Time
}

// replayWait bounds how long an agent's newer frames wait for its
// replayed ones.
const replayWait = time.Minute

// mustWait reports whether agent's frame seq waits for the agent's
// replayed frames (newest: the agent's newest frame applied here).
func (d *durability) mustWait(agent string, seq, newest uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.barrier[agent]
	if !ok {
		return false
	}
	if newest >= b.upTo || time.Now().After(b.deadline) {
		delete(d.barrier, agent)
		return false
	}
	return seq > b.upTo
}

// hold acknowledges m, the frame seq of agent, once Redis has persisted
// the write that applied it.
func (d *durability) hold(m jetstream.Msg, agent string, seq uint64) {
	d.mu.Lock()
	if d.off || d.st.Restarted() == nil {
		d.mu.Unlock()
		m.Ack()
		return
	}
	now := time.Now()
	d.held = append(d.held, heldMsg{m: m, agent: agent, seq: seq, at: now, progress: now})
	var early []heldMsg
	if n := len(d.held) - maxHeld; n > 0 {
		early = append(early, d.held[:n]...)
		d.held = d.held[n:]
	}
	d.mu.Unlock()
	d.ackEarly(early, "more than maxHeld held")
}

func (d *durability) ackEarly(ms []heldMsg, why string) {
	if len(ms) == 0 {
		return
	}
	d.early.Add(uint64(len(ms)))
	d.log.Warn("acknowledging applied batches Redis has not persisted yet: a Redis restart on an older snapshot would lose them",
		"batches", len(ms), "why", why)
	for _, h := range ms {
		h.m.Ack()
	}
}

// run reads Redis's persistence every persistEvery and acknowledges what
// it covers, and replays the held messages when Redis restarted, until
// ctx is done.
func (d *durability) run(ctx context.Context) {
	restarted := d.st.Restarted()
	if restarted == nil {
		return
	}
	t := time.NewTicker(persistEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-restarted:
			d.replay()
		case <-t.C:
			d.settle(ctx)
		}
	}
}

// settle acknowledges the held messages Redis has persisted, keeps the
// others in progress, and gives up on those held past maxHold.
func (d *durability) settle(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	p, err := d.st.Persistence(pctx)
	cancel()
	if err != nil {
		return // Redis down: keep holding
	}
	now := time.Now()
	// A write acknowledged before persistedBefore is on disk: in a
	// snapshot that began after it (1 s margin: the times are whole
	// seconds), or fsynced by the AOF (everysec: within 2 s).
	var persistedBefore time.Time
	switch {
	case p.AOF && p.AlwaysFsync:
		persistedBefore = now
	case p.AOF:
		persistedBefore = now.Add(-2 * time.Second)
	case p.SnapshotAt > 0:
		persistedBefore = time.Unix(p.SnapshotAt-1, 0)
	}
	d.mu.Lock()
	d.off = p.Off
	n := 0
	for n < len(d.held) && (p.Off || !d.held[n].at.After(persistedBefore)) {
		n++
	}
	acked := append([]heldMsg(nil), d.held[:n]...)
	d.held = d.held[n:]
	k := 0
	for k < len(d.held) && now.Sub(d.held[k].at) > maxHold {
		k++
	}
	late := append([]heldMsg(nil), d.held[:k]...)
	d.held = d.held[k:]
	var progress []jetstream.Msg
	for i := range d.held {
		if now.Sub(d.held[i].progress) >= d.ackWait/2 {
			d.held[i].progress = now
			progress = append(progress, d.held[i].m)
		}
	}
	d.mu.Unlock()
	for _, h := range acked {
		h.m.Ack()
	}
	d.ackEarly(late, "held longer than maxHold (is Redis saving?)")
	for _, m := range progress {
		m.InProgress()
	}
}

// replay hands the held messages back after a Redis restart and lifts
// the store's fence.
func (d *durability) replay() {
	d.gen.Lock() // waits for the writes in flight (they fail: fenced)
	defer d.gen.Unlock()
	d.ep.Add(1)
	d.mu.Lock()
	held := d.held
	d.held = nil
	d.barrier = map[string]replayBarrier{}
	deadline := time.Now().Add(replayWait)
	for _, h := range held {
		b, ok := d.barrier[h.agent]
		if !ok {
			b = replayBarrier{from: h.seq, deadline: deadline}
		}
		b.from, b.upTo = min(b.from, h.seq), max(b.upTo, h.seq)
		d.barrier[h.agent] = b
	}
	d.mu.Unlock()
	d.restarts.Add(1)
	// Only the agents with frames handed back: their states here are
	// ahead of Redis's. The others' states follow from frames Redis has
	// persisted (or, persistence off, from frames whose windows are gone
	// with it anyway): the frames they sent while Redis was down decode on
	// them.
	for _, h := range held {
		d.wire.forget(h.agent)
	}
	for _, h := range held {
		h.m.Nak()
	}
	d.replayed.Add(uint64(len(held)))
	d.log.Warn("redis restarted (new run_id): handed back the batches applied since its last snapshot for redelivery; those it kept are acknowledged as duplicates",
		"batches", len(held))
	d.st.AcceptRestart()
}

// heldNow is how many acknowledgements are held.
func (d *durability) heldNow() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held)
}

// replayRetry is the redelivery delay of a frame waiting for its agent's
// replayed frames.
const replayRetry = 500 * time.Millisecond

// passed records that agent's frame seq was found applied before (a
// replayed frame the snapshot had): the agent's barrier lifts once its
// newest replayed frame is applied or passed.
func (d *durability) passed(agent string, seq uint64) {
	d.mu.Lock()
	if b, ok := d.barrier[agent]; ok && seq >= b.upTo {
		delete(d.barrier, agent)
	}
	d.mu.Unlock()
}

// baseMissing records that agent's frame seq could not be decoded for
// want of its base. When that is the oldest frame handed back, Redis has
// not even the state it was packed against (it came back empty): the
// replay cannot succeed, so the barrier lifts and the keyframe asked for
// moves the agent on.
func (d *durability) baseMissing(agent string, seq uint64, err error) {
	d.mu.Lock()
	if b, ok := d.barrier[agent]; ok && seq == b.from {
		delete(d.barrier, agent)
		d.mu.Unlock()
		d.log.Warn("redis kept no state to replay an agent's frames on (restarted empty?): they wait for their base as usual",
			"agent", agent, "from", b.from, "up_to", b.upTo, "err", err)
		return
	}
	d.mu.Unlock()
}
