package aggregator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

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
type decoders struct {
	mu sync.Mutex
	m  map[string]*agentWire
}

type agentWire struct {
	states  map[uint64]*codec.Decoder // applied frame seq → the state after it
	newest  uint64                    // the highest seq applied here
	pending *codec.Decoder            // decoded, not yet applied (see applied)
}

// keptStates bounds the states kept per agent (each is a few tens of KB).
const keptStates = 4

func newDecoders() *decoders { return &decoders{m: map[string]*agentWire{}} }

// errDuplicate is a frame that was applied before (a redelivery whose ack
// was lost); acknowledging it again is right.
var errDuplicate = errors.New("frame already applied")

func (d *decoders) agent(name string) *agentWire {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.m[name]
	if w == nil {
		w = &agentWire{states: map[uint64]*codec.Decoder{}}
		d.m[name] = w
	}
	return w
}

// decode turns a parsed frame into a batch. It returns errDuplicate for a
// frame applied before (here, or by any member: the state saved in Redis
// is the one after it) and an error wrapping codec.ErrBaseMissing when the
// frame's base has not been applied (yet).
func (d *decoders) decode(ctx context.Context, st *store.Store, f *codec.Frame) (*codec.Batch, error) {
	w := d.agent(f.Agent)
	if w.states[f.Seq] != nil {
		return nil, errDuplicate
	}
	var dec *codec.Decoder
	if base := w.states[f.Base]; f.Base != 0 && base != nil {
		dec = base.Clone()
	} else {
		// Another member (or this one before a restart) may have applied
		// the base, or this very frame: the state it saved says which.
		p, err := st.WireState(ctx, f.Agent)
		if err != nil {
			return nil, err
		}
		dec = codec.NewDecoder()
		if p != nil {
			if err := dec.UnmarshalState(p); err != nil {
				return nil, fmt.Errorf("aggregator: saved wire state of %s: %w", f.Agent, err)
			}
		}
		if dec.Seq() == f.Seq {
			return nil, errDuplicate
		}
	}
	b, err := dec.Apply(f)
	if err != nil {
		return nil, err
	}
	w.pending = dec
	return b, nil
}

// applied records that f's batch is in Redis, keeps the state it left and,
// when f is the agent's newest frame, saves that state.
func (d *decoders) applied(ctx context.Context, st *store.Store, f *codec.Frame) error {
	w := d.agent(f.Agent)
	dec := w.pending
	w.pending = nil
	if dec == nil || dec.Seq() != f.Seq {
		return fmt.Errorf("aggregator: no decoded state for %s/%d", f.Agent, f.Seq)
	}
	w.states[f.Seq] = dec
	for len(w.states) > keptStates {
		delete(w.states, slices.Min(slices.Collect(maps.Keys(w.states))))
	}
	if f.Seq < w.newest {
		return nil // an older frame that waited for its base; the newest state stays saved
	}
	w.newest = f.Seq
	return st.SetWireState(ctx, f.Agent, dec.MarshalState(nil))
}

// forget drops an agent's states, whose newest may not match Redis any
// more (a frame decoded but not stored): the next frame reloads the saved
// state.
func (d *decoders) forget(agent string) {
	d.mu.Lock()
	delete(d.m, agent)
	d.mu.Unlock()
}
