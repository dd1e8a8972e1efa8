package aggregator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// decoders holds each agent's recent decoder states: a frame is packed
// against the agent's previous frame, so it decodes on the state that frame
// left. Frames can arrive out of order (a delta put back while its base,
// resent, arrives behind it, with a later keyframe in between), so a few
// states are kept by sequence number, not only the newest. After each
// applied frame that is the agent's newest, its state is saved in Redis,
// so the member that takes the partition over (or this one after a
// restart) continues from there. Every agent's frames land in one
// partition, which one handler consumes at a time; the mutex only guards
// the map.
//
// An agent not seen for idleAgent (it stopped, or its partition moved to
// another member) is dropped on a later sweep, so memory follows the
// agents this member serves now; its next frame reloads the saved state.
type decoders struct {
	mu    sync.Mutex
	m     map[string]*agentWire
	now   func() time.Time
	calls int // agent() calls since the last sweep
	// awaitEvicted counts awaited bases forgotten at maxAwaited (awaited.go).
	awaitEvicted atomic.Uint64
}

// idleAgent is how long an agent's states are kept without a frame: many
// windows, so an agent is swept only when it is gone from here.
const idleAgent = 15 * time.Minute

// sweepEvery is how many agent() calls pass between sweeps.
const sweepEvery = 4096

type agentWire struct {
	states map[uint64]*codec.Decoder // applied frame seq → the state after it
	newest uint64                    // the highest seq applied here
	// pend holds the states of frames decoded for the write being built
	// (not stored yet): a later frame of the same write decodes on them;
	// pendF the frames.
	pend  map[uint64]*codec.Decoder
	pendF map[uint64]*codec.Frame
	// saved is the seq whose state Redis holds (a state and the frame
	// chain after it, wireChain), 0 when unknown here; chain is how many
	// frames that chain has; save is what the write being built saves
	// (saveStates): its newest seq and frames chained (-1: a whole state).
	saved, save uint64
	chain       int
	saveChain   int
	// done remembers the last doneSeqs applied seqs, states or not: a
	// redelivery of an older applied frame (one that waited out AckWait in
	// a client buffer) is a duplicate, not a delta whose base is missing.
	done   [doneSeqs]uint64
	doneAt int
	seen   time.Time // the last agent() call, under decoders.mu
	// awaited are bases that frames put back wait for, and when they were
	// last put back: their states outlive keptStates (awaited.go).
	awaited map[uint64]time.Time
	// unsure are states loaded from Redis (keepSaved) or rebuilt from
	// frames found applied (rebuild): a frame decoded on one may have been
	// applied already, its state not saved. Bounded with states
	// (evictStates).
	unsure map[uint64]bool
}

// keptStates bounds the states kept per agent (each is a few tens of KB).
const keptStates = 4

// doneSeqs is how many applied seqs an agent remembers (8 bytes each).
const doneSeqs = 128

// wireChain bounds the frames saved after an agent's decoder state
// (store.Write.AppendWireFrames) before the whole state is saved again: a
// state is the agent's whole dictionary packed and compressed (tens of µs
// for 450 series), a frame is already packed; a member taking the agent
// over applies at most this many frames to the state it loads.
const wireChain = 30

func newDecoders() *decoders { return &decoders{m: map[string]*agentWire{}, now: time.Now} }

// errDuplicate is a frame that was applied before (a redelivery whose ack
// was lost); acknowledging it again is right.
var errDuplicate = errors.New("frame already applied")

// errRebuilt is a duplicate whose state was rebuilt (rebuild): Redis had
// recorded it applied without saving its state.
var errRebuilt = fmt.Errorf("%w; its decoder state rebuilt", errDuplicate)

// errPendingDuplicate is a second copy of a frame decoded for the write
// being built: it is acknowledged once that write is stored.
var errPendingDuplicate = errors.New("frame being applied")

func (d *decoders) agent(name string) *agentWire {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	if d.calls++; d.calls >= sweepEvery {
		d.calls = 0
		for n, w := range d.m {
			if now.Sub(w.seen) > idleAgent {
				delete(d.m, n)
			}
		}
	}
	w := d.m[name]
	if w == nil {
		w = &agentWire{states: map[uint64]*codec.Decoder{}, pend: map[uint64]*codec.Decoder{}, pendF: map[uint64]*codec.Frame{}}
		d.m[name] = w
	}
	w.seen = now
	return w
}

// agents is how many agents' states are held.
func (d *decoders) agents() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

func (w *agentWire) applied(seq uint64) bool {
	if w.states[seq] != nil {
		return true
	}
	return seq != 0 && slices.Contains(w.done[:], seq)
}

// decode turns a parsed frame into a batch. It returns errDuplicate for a
// frame applied before (here, or by any member: the state saved in Redis
// is the one after it), errPendingDuplicate for one decoded for the write
// being built, and an error wrapping codec.ErrBaseMissing when the
// frame's base has not been applied (yet).
func (d *decoders) decode(ctx context.Context, st *store.Store, f *codec.Frame) (*codec.Batch, error) {
	w := d.agent(f.Agent)
	if w.applied(f.Seq) {
		return nil, errDuplicate
	}
	if w.pend[f.Seq] != nil {
		return nil, errPendingDuplicate
	}
	var dec *codec.Decoder
	if base := w.pend[f.Base]; f.Base != 0 && base != nil {
		dec = base.Clone()
	} else if base := w.states[f.Base]; f.Base != 0 && base != nil {
		if w.unsure[f.Base] {
			// Its base came from Redis or was rebuilt (rebuild): this
			// frame may have been applied in the write that saved no state.
			_, _, done, err := st.WireStateFor(ctx, f.Agent, f.Seq)
			if err != nil {
				return nil, err
			}
			if done {
				return nil, d.rebuild(f.Agent, w, base, f)
			}
		}
		dec = base.Clone()
	} else {
		// Another member (or this one before a restart) may have applied
		// the base, or this very frame: the state it saved says which.
		p, chain, done, err := st.WireStateFor(ctx, f.Agent, f.Seq)
		if err != nil {
			return nil, err
		}
		if done && p == nil {
			return nil, errDuplicate
		}
		dec = codec.NewDecoder()
		w.saved, w.chain = 0, 0 // unless the whole saved chain applies below
		if p != nil {
			if err := dec.UnmarshalState(p); err != nil {
				return nil, fmt.Errorf("aggregator: saved wire state of %s: %w", f.Agent, err)
			}
			// The frames saved after the state, while they follow on.
			applied := 0
			for _, raw := range chain {
				cf, err := codec.ParseFrame(raw)
				if err != nil || cf.Base != dec.Seq() {
					break
				}
				next := dec.Clone()
				if _, err := next.Apply(cf); err != nil {
					break
				}
				dec = next
				applied++
			}
			if applied == len(chain) {
				w.saved, w.chain = dec.Seq(), len(chain)
			}
			d.keepSaved(f.Agent, w, dec, f.Seq)
		}
		if done {
			if f.Base == 0 || dec.Seq() == f.Base {
				return nil, d.rebuild(f.Agent, w, dec, f)
			}
			return nil, errDuplicate
		}
		if dec.Seq() == f.Seq {
			return nil, errDuplicate
		}
	}
	b, err := dec.Apply(f)
	if err != nil {
		return nil, err
	}
	w.pend[f.Seq] = dec
	w.pendF[f.Seq] = f
	return b, nil
}

// keepSaved keeps dec, the state loaded from Redis (saved by whichever
// member applied the agent's frames last), as the state after its seq,
// held like an awaited base (awaited.go). A member that takes an agent
// over sees first the frames stored since (a keyframe, after the
// agent's retry) and saves their state over the loaded one, while the
// frame the old owner had fetched but not acknowledged — packed on the
// loaded state — comes back only after AckWait: make failover lost such
// windows (frame 15 packed on 14, applied by the killed member; 16, a
// keyframe, and 17 saved by the new owner 160 ms before 15 was
// redelivered, which then waited for 14 until it was dropped). The state
// is marked unsure: the frame after it may have been applied by a write
// that did not save its state (rebuild), which a frame decoded on it
// checks first; applied again, its script would do nothing, save no state,
// and commit would take the state as saved.
func (d *decoders) keepSaved(agent string, w *agentWire, dec *codec.Decoder, seq uint64) {
	s := dec.Seq()
	if s == 0 || s >= seq || w.states[s] != nil {
		return
	}
	w.states[s] = dec.Clone()
	w.markUnsure(s)
	if d.await(agent, s) {
		d.awaitEvicted.Add(1)
	}
}

// rebuild keeps the state after f, a frame recorded applied in Redis
// whose state Redis does not hold, decoded on base (the state before it):
// the agent's next frames are packed on it. A member killed in the middle
// of a pipelined write leaves that: the scripts of the write's first
// frames of the agent ran (windows stored, seqs recorded applied), not
// that of its last, which carried the agent's state. Those frames come
// back as duplicates and are never applied again, so without the state
// rebuilt here the frames after them waited for a base that never came
// until the agent's next keyframe moved the chain on and they were
// dropped as base-lost. The rebuilt state is held like an awaited base,
// and a frame decoded on it is checked against Redis first (it may have
// been applied in the same write). It returns errRebuilt, or
// errDuplicate when f does not decode on base.
func (d *decoders) rebuild(agent string, w *agentWire, base *codec.Decoder, f *codec.Frame) error {
	next := base.Clone()
	if _, err := next.Apply(f); err != nil {
		return errDuplicate // its successors wait as before
	}
	w.states[f.Seq] = next
	w.markUnsure(f.Seq)
	w.done[w.doneAt] = f.Seq
	w.doneAt = (w.doneAt + 1) % doneSeqs
	w.newest = max(w.newest, f.Seq)
	if d.await(agent, f.Seq) {
		d.awaitEvicted.Add(1)
	}
	return errRebuilt
}

func (w *agentWire) markUnsure(seq uint64) {
	if w.unsure == nil {
		w.unsure = map[uint64]bool{}
	}
	w.unsure[seq] = true
}

// saveStates queues, last in wr, the state of each agent's newest frame
// decoded for wr when it is the agent's newest applied: the state lands in
// Redis only if the frames before it in the pipeline did. When the
// write's frames of the agent follow on the state saved last (each
// packed against the one before, the first against it), they are
// appended to the saved frame chain instead of saving the whole state,
// up to wireChain frames.
func (d *decoders) saveStates(ctx context.Context, wr *store.Write, agents []string) {
	for _, name := range agents {
		w := d.agent(name)
		w.save = 0
		if len(w.pend) == 0 {
			continue
		}
		seqs := slices.Sorted(maps.Keys(w.pend))
		seq := seqs[len(seqs)-1]
		if seq < w.newest {
			continue // older frames that waited for their base; the newest state stays saved
		}
		chained := w.saved != 0 && w.chain+len(seqs) <= wireChain
		for i, s := range seqs {
			base := w.saved
			if i > 0 {
				base = seqs[i-1]
			}
			chained = chained && w.pendF[s] != nil && w.pendF[s].Base == base
		}
		w.save, w.saveChain = seq, -1
		if chained {
			var p []byte
			for _, s := range seqs {
				raw, err := w.pendF[s].MarshalMsg(nil)
				if err != nil {
					chained = false
					break
				}
				p = store.AppendChainFrame(p, raw)
			}
			if chained {
				wr.AppendWireFrames(ctx, name, p)
				w.saveChain = len(seqs)
				continue
			}
		}
		wr.SetWireState(ctx, name, w.pend[seq].MarshalState(nil))
	}
}

// commit records that the frames decoded for a write are stored: their
// states become the agents' applied states. When a frame lands past a gap
// after the agent's newest (a keyframe after frames whose publishes
// timed out), the newest state is held like an awaited base: the frame
// after it may have been stored after all and come back later, packed
// on it. make failover lost windows so (frame 15 packed on 14 was stored,
// its delivery lost with the killed member that led the partition's
// consumer, and redelivered after AckWait; meanwhile the publisher's
// retry keyframe 17 and the frames after it had been applied, 14 was
// evicted past keptStates, and 15 waited until it was dropped).

func (d *decoders) commit(agents []string) {
	for _, name := range agents {
		w := d.agent(name)
		for _, seq := range slices.Sorted(maps.Keys(w.pend)) {
			if prev := w.newest; prev != 0 && seq > prev+1 && w.states[prev] != nil {
				// A gap (a keyframe moved the chain on): the frames
				// between may still come, packed on prev.
				if d.await(name, prev) {
					d.awaitEvicted.Add(1)
				}
			}
			w.states[seq] = w.pend[seq]
			w.done[w.doneAt] = seq
			w.doneAt = (w.doneAt + 1) % doneSeqs
			w.newest = max(w.newest, seq)
		}
		clear(w.pend)
		clear(w.pendF)
		switch {
		case w.save == 0:
		case w.saveChain < 0:
			w.saved, w.chain = w.save, 0
		default:
			w.saved, w.chain = w.save, w.chain+w.saveChain
		}
		w.save = 0
		w.evictStates(d.now())
	}
}

// discard drops the decoded, unstored state of agent's frame seq (a frame
// rejected or not written): frames decoded on it cannot be applied either.
func (d *decoders) discard(agent string, seq uint64) {
	w := d.agent(agent)
	delete(w.pend, seq)
	delete(w.pendF, seq)
}

// abort drops the states decoded for a write that failed; the applied
// states stay.
func (d *decoders) abort(agents []string) {
	for _, name := range agents {
		w := d.agent(name)
		clear(w.pend)
		clear(w.pendF)
		// What Redis holds now is not known: the next save is a whole state.
		w.saved, w.save = 0, 0
	}
}

// newest is the highest seq of agent applied here (0: none since this
// member last loaded its states).
func (d *decoders) newest(agent string) uint64 {
	return d.agent(agent).newest
}

// forget drops an agent's states, whose newest may not match Redis any
// more (a write failed): the next frame reloads the saved state.
func (d *decoders) forget(agent string) {
	d.mu.Lock()
	delete(d.m, agent)
	d.mu.Unlock()
}
