package aggregator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
)

// decoders holds one codec.Decoder per agent: a frame is packed against
// the agent's previous frame, so each agent's stream is decoded in order.
// Every agent's frames land in one partition, which one handler consumes
// at a time; the mutex only guards the map. After each applied frame the
// decoder's state is saved in Redis, so the member that takes the
// partition over (or this one after a restart) continues from there.
type decoders struct {
	mu sync.Mutex
	m  map[string]*agentWire
}

type agentWire struct {
	dec     *codec.Decoder
	applied []uint64 // the last frames applied, to tell a redelivery from a lost base
}

const recentApplied = 64

func newDecoders() *decoders { return &decoders{m: map[string]*agentWire{}} }

// errDuplicate is a frame that was applied before (a redelivery whose ack
// was lost); acknowledging it again is right.
var errDuplicate = errors.New("frame already applied")

// decode turns a parsed frame into a batch. It returns errDuplicate for a
// frame applied before and an error wrapping codec.ErrBaseMissing when the
// frame's base has not been applied (yet).
func (d *decoders) decode(ctx context.Context, st *store.Store, f *codec.Frame) (*codec.Batch, error) {
	d.mu.Lock()
	w := d.m[f.Agent]
	if w == nil {
		w = &agentWire{dec: codec.NewDecoder()}
		d.m[f.Agent] = w
	}
	d.mu.Unlock()
	if slices.Contains(w.applied, f.Seq) {
		return nil, errDuplicate
	}
	if f.Base != 0 && w.dec.Seq() != f.Base {
		// Another member may have decoded the base: continue from its state.
		p, err := st.WireState(ctx, f.Agent)
		if err != nil {
			return nil, err
		}
		if p != nil {
			dec := codec.NewDecoder()
			if err := dec.UnmarshalState(p); err != nil {
				return nil, fmt.Errorf("aggregator: saved wire state of %s: %w", f.Agent, err)
			}
			if dec.Seq() == f.Base {
				w.dec = dec
			}
		}
	}
	b, err := w.dec.Apply(f)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// applied records that f's batch is in Redis and saves the decoder state.
func (d *decoders) applied(ctx context.Context, st *store.Store, f *codec.Frame) error {
	d.mu.Lock()
	w := d.m[f.Agent]
	d.mu.Unlock()
	if len(w.applied) == recentApplied {
		w.applied = slices.Delete(w.applied, 0, 1)
	}
	w.applied = append(w.applied, f.Seq)
	if w.dec.Seq() != f.Seq {
		return nil // a later frame got there first; its state is the one to keep
	}
	return st.SetWireState(ctx, f.Agent, w.dec.MarshalState(nil))
}

// forget drops a decoder whose state may no longer match Redis (a frame
// decoded but not stored): the next frame reloads the saved state.
func (d *decoders) forget(agent string) {
	d.mu.Lock()
	delete(d.m, agent)
	d.mu.Unlock()
}
