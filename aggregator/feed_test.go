package aggregator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
)

// frameFeed hands agent s1/h1's frames to ingest in batches exactly as a
// partition's consumer fetches them, on a stream of its own, so a test
// can replay an order of deliveries seen in a failover run.
type frameFeed struct {
	t       *testing.T
	ctx     context.Context
	a       *Aggregator
	js      jetstream.JetStream
	c       jetstream.Consumer
	subject string
	// redeliveries: each publish is a new stream message (a frame the
	// consumer gets again), not a duplicate the stream drops.
	redeliveries bool
}

func newFrameFeed(t *testing.T, ctx context.Context, a *Aggregator, name string) *frameFeed {
	t.Helper()
	_, js := connect(t, a)
	subject := "tele.s1.h1." + strings.ToLower(name)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: strings.ToLower(name), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	return &frameFeed{t: t, ctx: ctx, a: a, js: js, c: c, subject: subject}
}

// apply publishes frames[seq] for each seq, fetches them as one batch and
// hands it to ingest.
func (f *frameFeed) apply(frames map[uint64][]byte, seqs ...uint64) {
	f.t.Helper()
	for _, seq := range seqs {
		id := fmt.Sprint("s1/h1/", seq)
		if f.redeliveries {
			id += fmt.Sprint("/", time.Now().UnixNano())
		}
		if _, err := f.js.Publish(f.ctx, f.subject, frames[seq], jetstream.WithMsgID(id)); err != nil {
			f.t.Fatal(err)
		}
	}
	batch, err := f.c.Fetch(len(seqs), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != len(seqs) {
		f.t.Fatalf("fetched %d messages, want %d", len(msgs), len(seqs))
	}
	f.a.ingest.handleBatch(f.ctx, msgs)
}

// encodeChain encodes the windows seqs with a new encoder (its first
// frame a keyframe, each next one packed on the one before) into frames.
func encodeChain(t *testing.T, frames map[uint64][]byte, seqs ...uint64) {
	t.Helper()
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range seqs {
		if frames[seq], err = enc.Encode(nil, testBatchOf(seq)); err != nil {
			t.Fatal(err)
		}
	}
}
