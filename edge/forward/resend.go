package forward

// Frames are packed against the frame before (codec.Encoder), so a
// resend must not change the chain the stream may already hold part of.
// Once the head of a round fails, batches after it may be stored already
// (the head failed with "no responders" as the uplink came back, its
// successors did not): they are packed against the head's original
// frame. Re-encoding the head as a keyframe and the rest against it gave
// a second chain; the aggregator then applied the new one past batches of
// the first that waited for their base, and dropped those (make faults:
// a round's worth of windows per agent, seen once retries were jittered
// so that some agent's round straddled the uplink's return).
//
// So every frame handed to the connection is kept, with the sequence it
// is packed against, until its batch is acknowledged or dropped, and a
// resend publishes the same bytes. A kept frame is reused only when the
// frame it is packed against is stored (acknowledged, so no longer kept)
// or was resent just before it in this round; otherwise the chain is
// broken (the spool dropped a batch) and the encoder starts again with a
// keyframe.

// sentFrame is a published frame whose batch is not acknowledged yet.
type sentFrame struct {
	frame []byte
	base  uint64 // the sequence it is packed against, 0 for a keyframe
	key   bool
}

// unackedBound caps the kept frames (a multiple of MaxInFlight): past it
// the encoder restarts and the kept frames are dropped.
const unackedBound = 4

// forget drops every kept frame and restarts the encoder: the next frame
// is a keyframe.
func (f *Forwarder) forget() {
	f.enc.Reset()
	clear(f.unacked)
	f.encLast = 0
}

// frameFor returns seq's frame: the kept one when its chain holds,
// otherwise a new one from data.
func (f *Forwarder) frameFor(seq uint64, data []byte) (sentFrame, error) {
	if f.keyframe.Swap(false) {
		f.forget()
	}
	if s, ok := f.unacked[seq]; ok {
		_, baseKept := f.unacked[s.base]
		if s.base == 0 || s.base == f.lastSent || !baseKept {
			return s, nil
		}
		f.forget() // its base is neither stored nor resent: start a new chain
	}
	if _, kept := f.unacked[f.encLast]; kept && f.encLast != f.lastSent {
		f.forget() // the encoder's last frame will not reach the stream before this one
	}
	b, err := decodeBatch(seq, data)
	if err != nil {
		return sentFrame{}, err
	}
	frame, err := f.enc.Encode(nil, b)
	if err != nil {
		return sentFrame{}, err
	}
	s := sentFrame{frame: frame, base: f.encLast, key: f.enc.Keyframe()}
	if s.key {
		s.base = 0
	}
	if len(f.unacked) >= unackedBound*f.opts.MaxInFlight {
		clear(f.unacked) // kept frames are only an optimisation of the chain: bounded
	}
	f.unacked[seq] = s
	f.encLast = seq
	return s, nil
}
