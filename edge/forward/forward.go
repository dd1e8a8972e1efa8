package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/spool"
)

// Header names set on every published batch.
const (
	HeaderSchema = "Edgepulse-Schema"
	HeaderAgent  = "Edgepulse-Agent"
)

// Options configure a Forwarder.
type Options struct {
	Subject        string        // e.g. tele.site1.host1
	Agent          string        // agent id, the first half of Nats-Msg-Id
	PublishTimeout time.Duration // per attempt; default 10 s
	MinBackoff     time.Duration // default 250 ms
	MaxBackoff     time.Duration // default 30 s
}

func (o *Options) defaults() {
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 10 * time.Second
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 30 * time.Second
	}
}

// Stats are the forwarder's counters.
type Stats struct {
	Published uint64 // batches acknowledged by the stream
	Duplicate uint64 // of those, acknowledged as duplicates (already stored)
	Retries   uint64 // failed attempts that will be retried
	Rejected  uint64 // batches dropped because the server refused them for good
	LastAckNs int64  // publish-to-ack latency of the last batch
}

// Forwarder moves batches from the spool to JetStream.
type Forwarder struct {
	js     jetstream.JetStream
	spool  *spool.Spool
	opts   Options
	log    *slog.Logger
	notify chan struct{}

	published, duplicate, retries, rejected atomic.Uint64
	lastAck                                 atomic.Int64
}

// New returns a Forwarder; call Run to start it.
func New(js jetstream.JetStream, sp *spool.Spool, opts Options, log *slog.Logger) *Forwarder {
	opts.defaults()
	return &Forwarder{js: js, spool: sp, opts: opts, log: log, notify: make(chan struct{}, 1)}
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
	}
}

// Run forwards until ctx is done.
func (f *Forwarder) Run(ctx context.Context) error {
	backoff := f.opts.MinBackoff
	idle := time.NewTimer(time.Second)
	defer idle.Stop()
	for ctx.Err() == nil {
		seq, data, ok, err := f.spool.Next(0)
		if err != nil {
			f.log.Error("reading spool", "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			continue
		}
		if !ok {
			idle.Reset(time.Second)
			select {
			case <-ctx.Done():
			case <-f.notify:
			case <-idle.C:
			}
			continue
		}
		err = f.publish(ctx, seq, data)
		switch {
		case err == nil:
			backoff = f.opts.MinBackoff
			if err := f.spool.Ack(seq); err != nil {
				f.log.Error("removing acknowledged batch from spool", "seq", seq, "err", err)
			}
		case permanent(err):
			f.rejected.Add(1)
			f.log.Error("server rejected batch for good; dropping it", "seq", seq, "bytes", len(data), "err", err)
			if err := f.spool.Ack(seq); err != nil {
				f.log.Error("removing rejected batch from spool", "seq", seq, "err", err)
			}
		default:
			f.retries.Add(1)
			f.log.Debug("publish failed; will retry", "seq", seq, "backoff", backoff, "err", err)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, f.opts.MaxBackoff)
		}
	}
	return ctx.Err()
}

func (f *Forwarder) publish(ctx context.Context, seq uint64, data []byte) error {
	msg := &nats.Msg{Subject: f.opts.Subject, Data: data, Header: nats.Header{}}
	msg.Header.Set("Content-Type", codec.ContentType)
	msg.Header.Set(HeaderSchema, strconv.Itoa(codec.Version))
	msg.Header.Set(HeaderAgent, f.opts.Agent)
	pctx, cancel := context.WithTimeout(ctx, f.opts.PublishTimeout)
	defer cancel()
	start := time.Now()
	ack, err := f.js.PublishMsg(pctx, msg, jetstream.WithMsgID(codec.MsgID(f.opts.Agent, seq)))
	if err != nil {
		return fmt.Errorf("publish seq %d to %s: %w", seq, f.opts.Subject, err)
	}
	f.lastAck.Store(int64(time.Since(start)))
	f.published.Add(1)
	if ack.Duplicate {
		f.duplicate.Add(1)
	}
	return nil
}

// permanent reports whether retrying err can never succeed.
func permanent(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
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

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
