package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/spool"
)

const (
	testSubject = "tele.s1.h1"
	testAgent   = "s1/h1"
)

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))

// startServer runs an in-process nats-server with JetStream on port (-1:
// random) with its store in dir.
func startServer(t *testing.T, opts server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.NoSigs, opts.JetStream = "127.0.0.1", true, true
	if opts.Port == 0 {
		opts.Port = -1
	}
	if opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	ns, err := server.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return ns
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func createStream(t *testing.T, nc *nats.Conn, cfg jetstream.StreamConfig) jetstream.Stream {
	t.Helper()
	js, _ := jetstream.New(nc)
	cfg.Name, cfg.Subjects = "TELEMETRY", []string{"tele.*.*"}
	if cfg.Duplicates == 0 {
		cfg.Duplicates = time.Hour
	}
	s, err := js.CreateOrUpdateStream(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: t.TempDir()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

// appendN spools n batches of size bytes each and returns their sequences.
func appendN(t *testing.T, sp *spool.Spool, n, size int) []uint64 {
	t.Helper()
	var seqs []uint64
	for range n {
		q, err := sp.Append(func(seq uint64) ([]byte, error) { return body(seq, size), nil })
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, q)
	}
	return seqs
}

// body is a spooled batch whose frame is about size bytes: one series with
// an incompressible name of its own (so every frame carries it).
func body(seq uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seq, 9))
	name := make([]byte, max(1, size-70))
	for i := range name {
		name[i] = 'a' + byte(rng.IntN(26))
	}
	b := &codec.Batch{Agent: "s1/h1", Site: "s1", Host: "h1", Seq: seq, Start: 60_000, Width: 60_000,
		Series:  []codec.Series{{ID: 1, Name: string(name)}},
		Rollups: []codec.Rollup{{ID: 1, Count: 1, Sum: float64(seq), Min: float64(seq), Max: float64(seq), First: float64(seq), Last: float64(seq)}}}
	p, err := codec.Encode(nil, b)
	if err != nil {
		panic(err)
	}
	return p
}

// run starts f and returns a stop function that waits for Run to return.
func run(t *testing.T, f *Forwarder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := f.Run(ctx)
		if ctx.Err() == nil {
			t.Errorf("Run returned before its context ended: %v", err)
		}
		done <- err
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("Run did not return 10 s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; %s", what, state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// storedIDs returns the Nats-Msg-Id of every message in the stream, in
// stream order.
func storedIDs(t *testing.T, s jetstream.Stream) []string {
	t.Helper()
	ctx := context.Background()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("stream seq %d: %v", seq, err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids
}

func msgIDs(seqs []uint64) []string {
	out := make([]string, len(seqs))
	for i, q := range seqs {
		out[i] = codec.MsgID(testAgent, q)
	}
	return out
}

// heldStream is a core NATS responder on the batch subject that answers
// publishes with JetStream's ack format only when the test lets it: it
// stands in for a slow or lossy stream so the test decides when acks come.
// The server, client and forwarder are real.
type heldStream struct {
	mu       sync.Mutex
	held     []*nats.Msg
	received int
	maxHeld  int
	ids      []string
	acked    int
	// release decides, after each receipt, whether to answer everything
	// held (newest first).
	release func(h *heldStream) bool
	// drop reports whether a message is never answered (lost on the path).
	drop func(id string) bool
}

func (h *heldStream) handle(m *nats.Msg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.received++
	id := m.Header.Get(jetstream.MsgIDHeader)
	h.ids = append(h.ids, id)
	if h.drop != nil && h.drop(id) {
		return
	}
	h.held = append(h.held, m)
	h.maxHeld = max(h.maxHeld, len(h.held))
	if !h.release(h) {
		return
	}
	for i := len(h.held) - 1; i >= 0; i-- {
		h.acked++
		ack, _ := json.Marshal(jetstream.PubAck{Stream: "HELD", Sequence: uint64(h.acked)})
		h.held[i].Respond(ack)
	}
	h.held = h.held[:0]
}

func (h *heldStream) state() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("received=%d held=%d maxHeld=%d", h.received, len(h.held), h.maxHeld)
}

// TestInFlightBound checks that no more than MaxInFlight publishes await
// their ack at once, that the bound is reached, and that acks answered
// newest first still remove every batch from the spool.
func TestInFlightBound(t *testing.T) {
	for _, limit := range []int{1, 4, 16} {
		t.Run(fmt.Sprint("max_in_flight=", limit), func(t *testing.T) {
			ns := startServer(t, server.Options{})
			defer ns.Shutdown()
			sp := openSpool(t)
			seqs := appendN(t, sp, 5*limit+3, 64)
			total := len(seqs)
			h := &heldStream{release: func(h *heldStream) bool {
				return len(h.held) >= limit || h.received >= total
			}}
			sub := connect(t, ns.ClientURL())
			if _, err := sub.Subscribe(testSubject, h.handle); err != nil {
				t.Fatal(err)
			}
			sub.Flush()

			nc := connect(t, ns.ClientURL())
			js, _ := jetstream.New(nc)
			f := New(js, sp, Options{Subject: testSubject, Agent: testAgent, MaxInFlight: limit, PublishTimeout: time.Minute}, quiet)
			run(t, f)
			waitFor(t, "the spool to empty", func() bool { return sp.Stats().Batches == 0 },
				func() string { return fmt.Sprintf("%s stats %+v", h.state(), f.Stats()) })

			h.mu.Lock()
			defer h.mu.Unlock()
			if h.maxHeld != limit {
				t.Errorf("at most %d publishes were awaiting their ack, want exactly the bound %d", h.maxHeld, limit)
			}
			if want := msgIDs(seqs); !slices.Equal(h.ids, want) {
				t.Errorf("published %v,\nwant each batch once in order %v", h.ids, want)
			}
			if st := f.Stats(); st.Published != uint64(total) || st.MaxInFlight != limit || st.Retries != 0 {
				t.Errorf("stats %+v, want published=%d max_in_flight=%d retries=0", st, total, limit)
			}
		})
	}
}

// TestPermanentRejection checks that a batch the server refuses for good
// is dropped and counted and the batches behind it are stored, with one
// or many publishes in flight.
func TestPermanentRejection(t *testing.T) {
	cases := []struct {
		name   string
		server server.Options
		stream jetstream.StreamConfig
	}{
		{"stream max_msg_size", server.Options{}, jetstream.StreamConfig{MaxMsgSize: 512}},
		{"server max_payload", server.Options{MaxPayload: 1024}, jetstream.StreamConfig{}},
	}
	for _, c := range cases {
		for _, limit := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/max_in_flight=%d", c.name, limit), func(t *testing.T) {
				ns := startServer(t, c.server)
				defer ns.Shutdown()
				nc := connect(t, ns.ClientURL())
				s := createStream(t, nc, c.stream)
				sp := openSpool(t)
				small1 := appendN(t, sp, 2, 100)
				big := appendN(t, sp, 1, 4096)
				small2 := appendN(t, sp, 3, 100)

				js, _ := jetstream.New(nc)
				f := New(js, sp, Options{Subject: testSubject, Agent: testAgent, MaxInFlight: limit}, quiet)
				run(t, f)
				waitFor(t, "the spool to empty", func() bool { return sp.Stats().Batches == 0 },
					func() string { return fmt.Sprintf("stats %+v", f.Stats()) })

				st := f.Stats()
				if st.Rejected != 1 || st.Published != 5 {
					t.Errorf("stats %+v, want rejected=1 published=5", st)
				}
				want := msgIDs(slices.Concat(small1, small2))
				if got := storedIDs(t, s); !slices.Equal(got, want) {
					t.Errorf("stream holds %v, want %v (without the rejected %v)", got, want, msgIDs(big))
				}
			})
		}
	}
}

// TestPoisonDroppedAfterStrikes checks that a batch whose ack never comes
// while the batches after it are acknowledged is dropped after MaxStrikes
// rounds instead of blocking the queue. New batches keep arriving, as
// they do from a running agent.
func TestPoisonDroppedAfterStrikes(t *testing.T) {
	const strikes = 2
	ns := startServer(t, server.Options{})
	defer ns.Shutdown()
	sp := openSpool(t)
	seqs := appendN(t, sp, 6, 64)
	lost := codec.MsgID(testAgent, seqs[2])
	h := &heldStream{
		release: func(*heldStream) bool { return true },
		drop:    func(id string) bool { return id == lost },
	}
	sub := connect(t, ns.ClientURL())
	if _, err := sub.Subscribe(testSubject, h.handle); err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	nc := connect(t, ns.ClientURL())
	js, _ := jetstream.New(nc)
	f := New(js, sp, Options{Subject: testSubject, Agent: testAgent, MaxInFlight: 8, MaxStrikes: strikes,
		PublishTimeout: 300 * time.Millisecond, MinBackoff: 10 * time.Millisecond}, quiet)
	run(t, f)
	// One new batch per round, until the poison is dropped.
	for f.Stats().Rejected == 0 && len(seqs) < 40 {
		r := f.Stats().Retries
		waitFor(t, "a failed round", func() bool { return f.Stats().Retries > r || f.Stats().Rejected > 0 },
			func() string { return fmt.Sprintf("%s stats %+v", h.state(), f.Stats()) })
		seqs = append(seqs, appendN(t, sp, 1, 64)...)
	}
	waitFor(t, "the spool to empty", func() bool { return sp.Stats().Batches == 0 },
		func() string { return fmt.Sprintf("%s stats %+v", h.state(), f.Stats()) })
	st := f.Stats()
	if st.Rejected != 1 || st.Retries < strikes || st.Published != uint64(len(seqs)-1) {
		t.Errorf("stats %+v, want rejected=1 after retries ≥ %d, published=%d", st, strikes, len(seqs)-1)
	}
	// Every batch but the lost one was acknowledged once and never resent:
	// a round settles the acks that came in behind a failed head. The lost
	// one was sent at least MaxStrikes times (a round in which nothing was
	// behind it is no evidence and does not count).
	h.mu.Lock()
	defer h.mu.Unlock()
	sent := map[string]int{}
	for _, id := range h.ids {
		sent[id]++
	}
	for _, id := range msgIDs(seqs) {
		switch {
		case id == lost && sent[id] < strikes:
			t.Errorf("lost batch %s sent %d times, want ≥ %d (all: %v)", id, sent[id], strikes, h.ids)
		case id != lost && sent[id] != 1:
			t.Errorf("%s sent %d times, want 1 (all: %v)", id, sent[id], h.ids)
		}
	}
}

// TestReplayAfterReconnect takes the server away while batches are
// spooled and brings it back on the same port and store. The forwarder
// must resume on the reconnect by itself (its backoff is 10 minutes and
// nobody calls Notify after the restart), replay in order, and a batch
// already stored before (its ack lost) must be acknowledged as a
// duplicate, not stored twice.
func TestReplayAfterReconnect(t *testing.T) {
	store := t.TempDir()
	ns := startServer(t, server.Options{StoreDir: store})
	port := ns.Addr().(*net.TCPAddr).Port
	nc := connect(t, ns.ClientURL())
	createStream(t, nc, jetstream.StreamConfig{})
	sp := openSpool(t)
	first := appendN(t, sp, 3, 64)

	// The first batch is already in the stream: the agent stored it but
	// crashed before the ack came back.
	js, _ := jetstream.New(nc)
	b0, _ := codec.Decode(body(first[0], 64))
	enc, _ := codec.NewEncoder(codec.DefaultWireOptions())
	frame0, _ := enc.Encode(nil, b0)
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: testSubject, Data: frame0},
		jetstream.WithMsgID(codec.MsgID(testAgent, first[0]))); err != nil {
		t.Fatal(err)
	}

	f := New(js, sp, Options{Subject: testSubject, Agent: testAgent, MinBackoff: 10 * time.Minute, MaxBackoff: 10 * time.Minute}, quiet)
	run(t, f)
	waitFor(t, "the first batches to drain", func() bool { return sp.Stats().Batches == 0 },
		func() string { return fmt.Sprintf("stats %+v", f.Stats()) })
	if st := f.Stats(); st.Duplicate != 1 || st.Published != 3 {
		t.Fatalf("stats %+v, want published=3 with duplicate=1", st)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, "the client to notice", func() bool { return !nc.IsConnected() }, func() string { return nc.Status().String() })
	during := appendN(t, sp, 5, 64)
	f.Notify() // batches arrive while the server is down

	ns = startServer(t, server.Options{Port: port, StoreDir: store})
	defer ns.Shutdown()
	waitFor(t, "the spool to drain after the reconnect", func() bool { return sp.Stats().Batches == 0 },
		func() string { return fmt.Sprintf("stats %+v spool %+v", f.Stats(), sp.Stats()) })

	s, err := js.Stream(context.Background(), "TELEMETRY")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := storedIDs(t, s), msgIDs(slices.Concat(first, during)); !slices.Equal(got, want) {
		t.Fatalf("stream holds %v, want each batch once in order %v", got, want)
	}
	if st := f.Stats(); st.Rejected != 0 || st.Published < 8 {
		t.Fatalf("stats %+v, want published ≥ 8, none rejected", st)
	}
	// The frames decode in stream order with one decoder: each delta's
	// base is the frame stored before it, across the duplicate and the
	// reconnect.
	dec := codec.NewDecoder()
	for i, seq := range slices.Concat(first, during) {
		m, err := s.GetMsg(context.Background(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		b, err := dec.Decode(m.Data)
		if err != nil {
			t.Fatalf("stream message %d: %v", i+1, err)
		}
		if want, _ := codec.Decode(body(seq, 64)); b.Seq != seq || b.Series[0].Name != want.Series[0].Name {
			t.Fatalf("stream message %d decodes to seq %d %q, want %d %q", i+1, b.Seq, b.Series[0].Name, seq, want.Series[0].Name)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	base := Options{Subject: testSubject, Agent: testAgent}
	cases := []struct {
		name  string
		edit  func(*Options)
		field string // "" means valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"no subject", func(o *Options) { o.Subject = "" }, "subject"},
		{"no agent", func(o *Options) { o.Agent = "" }, "agent"},
		{"short timeout", func(o *Options) { o.PublishTimeout = time.Millisecond }, "publish_timeout"},
		{"max below min", func(o *Options) { o.MinBackoff, o.MaxBackoff = time.Second, time.Millisecond }, "max_backoff"},
		{"in flight 0 is default", func(o *Options) { o.MaxInFlight = 0 }, ""},
		{"in flight too many", func(o *Options) { o.MaxInFlight = 5000 }, "max_in_flight"},
		{"negative strikes", func(o *Options) { o.MaxStrikes = -1 }, "max_strikes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			err := o.Validate()
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case c.field != "" && (err == nil || !strings.Contains(err.Error(), c.field)):
				t.Fatalf("Validate() = %v, want an error naming %s", err, c.field)
			}
		})
	}
}

func TestInvalidOptionsStopRun(t *testing.T) {
	ns := startServer(t, server.Options{})
	defer ns.Shutdown()
	js, _ := jetstream.New(connect(t, ns.ClientURL()))
	f := New(js, openSpool(t), Options{Agent: testAgent}, quiet)
	if err := f.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "subject") {
		t.Fatalf("Run = %v, want the subject validation error", err)
	}
}

// TestKeyframeOnRequest: frames are deltas against the one before, except
// the first and the one after Keyframe is called, which decode on their own.
func TestKeyframeOnRequest(t *testing.T) {
	ns := startServer(t, server.Options{StoreDir: t.TempDir()})
	nc := connect(t, ns.ClientURL())
	s := createStream(t, nc, jetstream.StreamConfig{})
	sp := openSpool(t)
	js, _ := jetstream.New(nc)
	f := New(js, sp, Options{Subject: testSubject, Agent: testAgent}, quiet)
	run(t, f)
	publish := func(n int) {
		t.Helper()
		appendN(t, sp, n, 64)
		f.Notify()
		waitFor(t, "the spool to drain", func() bool { return sp.Stats().Batches == 0 },
			func() string { return fmt.Sprintf("stats %+v", f.Stats()) })
	}
	publish(3)
	f.Keyframe()
	publish(2)
	var bases []bool
	for i := uint64(1); i <= 5; i++ {
		m, err := s.GetMsg(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		fr, err := codec.ParseFrame(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, fr.Base == 0)
	}
	if want := []bool{true, false, false, true, false}; !slices.Equal(bases, want) {
		t.Fatalf("keyframes at %v, want %v", bases, want)
	}
	if st := f.Stats(); st.Keyframes != 2 {
		t.Fatalf("stats %+v, want 2 keyframes", st)
	}
}

// TestRewindPublishesOlderBatches: a batch the source gains below the
// ones already published (the agent's spool opening late, under the
// windows it published from memory) is not reached by the round going
// on from the last published; Rewind starts again from the oldest and
// publishes it.
func TestRewindPublishesOlderBatches(t *testing.T) {
	ns := startServer(t, server.Options{StoreDir: t.TempDir()})
	nc := connect(t, ns.ClientURL())
	s := createStream(t, nc, jetstream.StreamConfig{})
	sp := openSpool(t)
	js, _ := jetstream.New(nc)
	f := New(js, sp, Options{Subject: testSubject, Agent: testAgent}, quiet)
	run(t, f)
	seqs := appendN(t, sp, 3, 64)
	f.Notify()
	state := func() string { return fmt.Sprintf("stats %+v, spool %+v", f.Stats(), sp.Stats()) }
	waitFor(t, "3 published", func() bool { return f.Stats().Published == 3 }, state)
	older := seqs[0] - 10
	if err := sp.Adopt(older, body(older, 64)); err != nil {
		t.Fatal(err)
	}
	f.Notify()
	time.Sleep(1500 * time.Millisecond) // an idle round or two
	if got := len(storedIDs(t, s)); got != 3 {
		t.Fatalf("%d stored before Rewind, want 3: the round went on from the last published", got)
	}
	f.Rewind()
	waitFor(t, "the older batch published", func() bool { return sp.Stats().Batches == 0 }, state)
	ids := storedIDs(t, s)
	if len(ids) != 4 || ids[3] != codec.SignedMsgID(testAgent, older, nil) {
		t.Fatalf("stored %v, want the 3 and then seq %d", ids, older)
	}
}
