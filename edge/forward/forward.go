package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/internal/backoff"
	"github.com/edgepulse/edgepulse/edge/spool"
)

// Options configure a Forwarder. The zero value of a field means its
// default (see DefaultOptions).
type Options struct {
	Subject string `yaml:"-"` // e.g. tele.site1.host1
	Agent   string `yaml:"-"` // agent id, the first half of Nats-Msg-Id
	// MsgIDKey, when set, signs each Nats-Msg-Id (codec.SignedMsgID) so a
	// neighbour cannot poison the stream's de-duplication with this
	// agent's future ids. It must stay the same across restarts.
	MsgIDKey []byte `yaml:"-"`
	// PublishTimeout is how long a publish waits for its ack before it
	// counts as failed; default 10 s, 100 ms–10 min.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// MinBackoff is the first pause after a failed round; default 250 ms.
	MinBackoff time.Duration `yaml:"min_backoff"`
	// MaxBackoff caps the doubling pause; default 10 s, ≥ MinBackoff, ≤ 10 min.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxInFlight bounds the publishes awaiting their ack; default 32, 1–4096.
	MaxInFlight int `yaml:"max_in_flight"`
	// MaxStrikes is how many times a batch may time out while batches sent
	// after it are stored before it is dropped as poison (a message the
	// path loses silently, e.g. one larger than a hop's max_payload);
	// default 3, 1–1000.
	MaxStrikes int `yaml:"max_strikes"`
	// Wire chooses how batches are packed into frames; nil: the defaults
	// (codec.DefaultWireOptions).
	Wire *codec.WireOptions `yaml:"-"`
}

// DefaultOptions returns the defaults (Subject and Agent empty).
func DefaultOptions() Options {
	return Options{
		PublishTimeout: 10 * time.Second,
		MinBackoff:     250 * time.Millisecond,
		MaxBackoff:     10 * time.Second,
		MaxInFlight:    32,
		MaxStrikes:     3,
	}
}

// withDefaults fills zero fields from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.PublishTimeout == 0 {
		o.PublishTimeout = d.PublishTimeout
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = d.MinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = max(d.MaxBackoff, o.MinBackoff)
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = d.MaxInFlight
	}
	if o.MaxStrikes == 0 {
		o.MaxStrikes = d.MaxStrikes
	}
	if o.Wire == nil {
		w := codec.DefaultWireOptions()
		o.Wire = &w
	}
	return o
}

// Validate names the first bad field and its allowed range. Zero fields
// are valid (they mean the default).
func (o Options) Validate() error {
	o = o.withDefaults()
	switch {
	case o.Subject == "":
		return errors.New("forward: subject must be set")
	case o.Agent == "":
		return errors.New("forward: agent must be set")
	case o.PublishTimeout < 100*time.Millisecond || o.PublishTimeout > 10*time.Minute:
		return fmt.Errorf("forward: publish_timeout %v must be between 100ms and 10m", o.PublishTimeout)
	case o.MinBackoff < time.Millisecond:
		return fmt.Errorf("forward: min_backoff %v must be ≥ 1ms", o.MinBackoff)
	case o.MaxBackoff < o.MinBackoff || o.MaxBackoff > 10*time.Minute:
		return fmt.Errorf("forward: max_backoff %v must be between min_backoff %v and 10m", o.MaxBackoff, o.MinBackoff)
	case o.MaxInFlight < 1 || o.MaxInFlight > 4096:
		return fmt.Errorf("forward: max_in_flight %d must be between 1 and 4096", o.MaxInFlight)
	case o.Wire.Validate() != nil:
		return fmt.Errorf("forward: %w", o.Wire.Validate())
	case o.MaxStrikes < 1 || o.MaxStrikes > 1000:
		return fmt.Errorf("forward: max_strikes %d must be between 1 and 1000", o.MaxStrikes)
	}
	return nil
}

// Stats are the forwarder's counters.
type Stats struct {
	Published   uint64 // batches acknowledged by the stream
	Duplicate   uint64 // of those, acknowledged as duplicates (already stored)
	Retries     uint64 // failed rounds that will be retried (each resends from the oldest un-acked batch)
	Rejected    uint64 // batches dropped because the server refused them for good (or as poison)
	InFlight    int    // publishes awaiting their ack now
	MaxInFlight int    // the most publishes ever awaiting their ack at once
	LastAckNs   int64  // publish-to-ack latency of the last batch
	Keyframes   uint64 // frames published that decode on their own
	BatchBytes  uint64 // spooled batch bytes handed to the encoder
	FrameBytes  uint64 // frame bytes published (resends included)
}

// Source is what a Forwarder publishes: the batches in sequence order
// (Next) and their removal once acknowledged (Ack). A [spool.Spool] is
// one; the agent's outbox, which holds a few batches in memory while a
// full disk keeps the spool closed, is another.
type Source interface {
	Next(after uint64) (seq uint64, data []byte, ok bool, err error)
	Ack(seq uint64) error
}

var _ Source = (*spool.Spool)(nil)

// Forwarder moves batches from the spool to JetStream.
type Forwarder struct {
	nc     *nats.Conn
	pub    jetstream.JetStream // own context: async publish with the ack timeout
	spool  Source
	opts   Options
	log    *slog.Logger
	err    error // invalid options; Run returns it
	notify chan struct{}

	enc      *codec.Encoder // packs each batch against the one published before
	keyframe atomic.Bool    // the next frame is a keyframe (asked for)
	rewind   atomic.Bool    // the next round starts from the oldest batch (Rewind)

	published, duplicate, retries, rejected atomic.Uint64
	keyframes, batchBytes, frameBytes       atomic.Uint64
	lastAck                                 atomic.Int64
	inFlight, maxInFlight                   atomic.Int64
}

// New returns a Forwarder publishing through js's connection; call Run to
// start it. Invalid options make Run return the validation error.
func New(js jetstream.JetStream, sp Source, opts Options, log *slog.Logger) *Forwarder {
	opts = opts.withDefaults()
	f := &Forwarder{nc: js.Conn(), spool: sp, opts: opts, log: log, notify: make(chan struct{}, 1)}
	if f.err = opts.Validate(); f.err != nil {
		return f
	}
	// A context of our own: the caller's js may have no ack timeout, and
	// an async publish without one never resolves when its ack is lost.
	if f.enc, f.err = codec.NewEncoder(*opts.Wire); f.err != nil {
		return f
	}
	f.pub, f.err = jetstream.New(f.nc, jetstream.WithPublishAsyncTimeout(opts.PublishTimeout))
	return f
}

// Keyframe makes the next frame published a keyframe, one that decodes on
// its own (for a reader that joined mid-stream).
func (f *Forwarder) Keyframe() { f.keyframe.Store(true) }

// Rewind makes the forwarder start again from the oldest batch: the
// source gained batches older than those it published (a spool that
// opened late, under the batches held in memory meanwhile). Publishes
// awaiting their ack are abandoned and resent (the stream stores them
// once: same Nats-Msg-Id).
func (f *Forwarder) Rewind() {
	f.rewind.Store(true)
	f.Notify()
}

// Notify tells the forwarder a new batch is in the spool.
func (f *Forwarder) Notify() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// Stats returns the counters.
func (f *Forwarder) Stats() Stats {
	return Stats{
		Published: f.published.Load(), Duplicate: f.duplicate.Load(),
		Retries: f.retries.Load(), Rejected: f.rejected.Load(), LastAckNs: f.lastAck.Load(),
		InFlight: int(f.inFlight.Load()), MaxInFlight: int(f.maxInFlight.Load()),
		Keyframes: f.keyframes.Load(), BatchBytes: f.batchBytes.Load(), FrameBytes: f.frameBytes.Load(),
	}
}

// pending is one publish awaiting its ack.
type pending struct {
	seq  uint64
	size int
	fut  jetstream.PubAckFuture
	sent time.Time
}

// Run forwards until ctx is done.
//
// Each round publishes spooled batches oldest first, at most MaxInFlight
// awaiting their ack, and settles the acks in sequence order: a batch
// leaves the spool only once the stream acknowledged it. When the oldest
// outstanding publish fails, every later one is abandoned (those already
// acknowledged are settled first) and, after a capped exponential backoff
// with jitter (so a fleet does not retry in lockstep after an outage),
// the next round resends from the oldest un-acked batch. A reconnect ends
// the backoff at once.
func (f *Forwarder) Run(ctx context.Context) error {
	if f.err != nil {
		f.log.Error("forwarder not started", "err", f.err)
		return f.err
	}
	up := f.nc.StatusChanged(nats.CONNECTED)
	defer f.nc.RemoveStatusListener(up)
	idle := time.NewTimer(time.Second)
	defer idle.Stop()
	defer f.inFlight.Store(0)

	var (
		q       []pending
		after   uint64                                              // highest sequence handed out in this round
		pause   = backoff.New(f.opts.MinBackoff, f.opts.MaxBackoff) // jittered: a fleet does not retry in lockstep
		strikes int                                                 // consecutive poison strikes of strikeSeq
		strike  uint64                                              // the batch collecting strikes
	)
	// retry ends the round and pauses; it reports false when ctx is done.
	retry := func(why string, seq uint64, err error) bool {
		f.retries.Add(1)
		f.enc.Reset() // the stream may miss what the next frame would be packed against
		d := pause.Next()
		f.log.Debug("publish failed; resending from the oldest un-acked batch", "why", why, "seq", seq,
			"in_flight", len(q), "backoff", d, "err", err)
		q, after = q[:0], 0
		f.inFlight.Store(0)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		case <-up:
			pause.Reset()
		}
		return true
	}
	for ctx.Err() == nil {
		if f.rewind.Swap(false) {
			f.enc.Reset()
			q, after = q[:0], 0
			f.inFlight.Store(0)
		}
		// Fill the window.
		var fillErr error
		var fillSeq uint64
		for f.nc.IsConnected() && len(q) < f.opts.MaxInFlight {
			seq, data, ok, err := f.spool.Next(after)
			if err != nil {
				fillErr, fillSeq = err, after
				break
			}
			if !ok {
				break
			}
			after = seq
			fut, err := f.publishAsync(seq, data)
			if err != nil {
				if permanent(err) {
					f.reject(seq, len(data), err)
					f.enc.Reset()
					continue
				}
				fillErr, fillSeq = err, seq
				break
			}
			q = append(q, pending{seq: seq, size: len(data), fut: fut, sent: time.Now()})
			f.setInFlight(len(q))
		}
		if fillErr != nil {
			if !retry("publish", fillSeq, fillErr) {
				break
			}
			continue
		}
		if len(q) == 0 {
			idle.Reset(time.Second)
			select {
			case <-ctx.Done():
			case <-f.notify:
			case <-up:
			case <-idle.C:
			}
			continue
		}

		// Settle the oldest outstanding publish.
		head := q[0]
		select {
		case <-ctx.Done():
		case ack := <-head.fut.Ok():
			f.acked(head, ack)
			q = q[1:]
			f.setInFlight(len(q))
			pause.Reset()
		case err := <-head.fut.Err():
			if permanent(err) {
				// Frames after it may be packed against it: they cannot
				// decode, and the poison path is the one place a window is
				// given up (counted as rejected).
				f.reject(head.seq, head.size, err)
				f.enc.Reset()
				q = q[1:]
				f.setInFlight(len(q))
				continue
			}
			// Batches after the head that are already stored leave the
			// spool now, so the resend skips them.
			later := 0
			for _, p := range q[1:] {
				select {
				case ack := <-p.fut.Ok():
					f.acked(p, ack)
					later++
				default:
				}
			}
			if later > 0 && errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
				if strike != head.seq {
					strike, strikes = head.seq, 0
				}
				if strikes++; strikes >= f.opts.MaxStrikes {
					f.reject(head.seq, head.size, fmt.Errorf("%w; batches after it were stored %d times in a row", err, strikes))
					strikes = 0
				}
			}
			if !retry("ack", head.seq, err) {
				break
			}
		case <-up:
			// Reconnected: the client failed every pending publish; resend now.
			f.enc.Reset()
			q, after = q[:0], 0
			f.inFlight.Store(0)
			pause.Reset()
		}
	}
	return ctx.Err()
}

func (f *Forwarder) setInFlight(n int) {
	f.inFlight.Store(int64(n))
	for {
		m := f.maxInFlight.Load()
		if int64(n) <= m || f.maxInFlight.CompareAndSwap(m, int64(n)) {
			return
		}
	}
}

// errPoison marks a spooled batch that cannot be framed: it never will be.
var errPoison = errors.New("spooled batch unreadable")

// publishAsync packs one spooled batch into a frame and hands it to the
// connection.
func (f *Forwarder) publishAsync(seq uint64, data []byte) (jetstream.PubAckFuture, error) {
	b, err := codec.Decode(data)
	if err == nil && b.Seq != seq {
		err = fmt.Errorf("batch says seq %d, spool key %d", b.Seq, seq)
	}
	var frame []byte
	if err == nil {
		if f.keyframe.Swap(false) {
			f.enc.Reset()
		}
		frame, err = f.enc.Encode(nil, b)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: seq %d: %w", errPoison, seq, err)
	}
	if f.enc.Keyframe() {
		f.keyframes.Add(1)
	}
	f.batchBytes.Add(uint64(len(data)))
	f.frameBytes.Add(uint64(len(frame)))
	msg := &nats.Msg{Subject: f.opts.Subject, Data: frame}
	fut, err := f.pub.PublishMsgAsync(msg, jetstream.WithMsgID(codec.SignedMsgID(f.opts.Agent, seq, f.opts.MsgIDKey)))
	if err != nil {
		return nil, fmt.Errorf("publish seq %d to %s: %w", seq, f.opts.Subject, err)
	}
	return fut, nil
}

// acked removes an acknowledged batch from the spool.
func (f *Forwarder) acked(p pending, ack *jetstream.PubAck) {
	f.lastAck.Store(int64(time.Since(p.sent)))
	f.published.Add(1)
	if ack.Duplicate {
		f.duplicate.Add(1)
	}
	if err := f.spool.Ack(p.seq); err != nil {
		f.log.Error("removing acknowledged batch from spool", "seq", p.seq, "err", err)
	}
}

// reject drops a batch the server will never take.
func (f *Forwarder) reject(seq uint64, size int, err error) {
	f.rejected.Add(1)
	f.log.Error("server rejected batch for good; dropping it", "subject", f.opts.Subject, "seq", seq, "bytes", size, "err", err)
	if err := f.spool.Ack(seq); err != nil {
		f.log.Error("removing rejected batch from spool", "seq", seq, "err", err)
	}
}

// permanent reports whether retrying err can never succeed.
func permanent(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, errPoison) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// A 4xx other than "no stream" is about the message itself.
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum ||
			(apiErr.Code >= 400 && apiErr.Code < 500 && apiErr.ErrorCode != jetstream.JSErrCodeStreamNotFound &&
				apiErr.Code != 408)
	}
	return false
}
