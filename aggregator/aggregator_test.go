package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// connect is a client of a's hub, closed when the test ends.
func connect(t *testing.T, a *Aggregator) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(a.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func startAggregator(t *testing.T) (*Aggregator, context.Context) {
	a, ctx, _ := startAggregatorRedis(t)
	return a, ctx
}

// startAggregatorRedis is startAggregator that returns its Redis too.
func startAggregatorRedis(t *testing.T) (*Aggregator, context.Context, *harness.Redis) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() }) // r.Proc changes on Restart
	cfg := DefaultConfig()
	cfg.Name = "test-hub"
	cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, t.TempDir()
	cfg.Redis.Addr = r.Addr
	cfg.HTTP = "127.0.0.1:0"
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a, ctx, r
}

func testBatchOf(seq uint64) *codec.Batch {
	return &codec.Batch{
		Agent: "s1/h1", Site: "s1", Host: "h1", Seq: seq, Start: testBase + 60_000 + int64(seq)*60_000, Width: 60_000,
		Series:  []codec.Series{{ID: 0, Name: "node_load1"}},
		Rollups: []codec.Rollup{{ID: 0, Count: 60, Sum: 60 * float64(seq), Min: 1, Max: float64(seq), First: 1, Last: float64(seq)}},
	}
}

// keyframe packs b as a frame that decodes on its own, values exact.
func keyframe(b *codec.Batch) []byte {
	enc, err := codec.NewEncoder(codec.WireOptions{Dictionary: true})
	if err != nil {
		panic(err)
	}
	p, err := enc.Encode(nil, b)
	if err != nil {
		panic(err)
	}
	return p
}

func testBatch(seq uint64) []byte { return keyframe(testBatchOf(seq)) }

// TestPoisonAndDuplicates publishes good, malformed, wrong-version and
// duplicate batches: the bad ones are terminated and counted without
// blocking the good ones behind them, and the duplicate is stored once.
func TestPoisonAndDuplicates(t *testing.T) {
	a, ctx := startAggregator(t)
	_, js := connect(t, a)
	pub := func(data []byte, id string) *jetstream.PubAck {
		ack, err := js.Publish(ctx, "tele.s1.h1", data, jetstream.WithMsgID(id))
		if err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
		return ack
	}
	wrongVersion := testBatch(9)
	if wrongVersion[1] != codec.FrameVersion {
		t.Fatalf("frame starts % x: the version is not the second byte", wrongVersion[:4])
	}
	wrongVersion[1] = 99
	pub(testBatch(1), "s1/h1/1")
	pub([]byte("not msgpack at all"), "junk/1")
	pub(wrongVersion, "s1/h1/9")
	pub(testBatch(2), "s1/h1/2")
	if ack := pub(testBatch(2), "s1/h1/2"); !ack.Duplicate {
		t.Fatalf("second publish of s1/h1/2 not flagged duplicate: %+v", ack)
	}
	err := harness.WaitFor(ctx, 20*time.Second, func() error {
		if st := a.Stats(); st.Applied != 2 || st.DecodeErrors != 2 {
			return fmt.Errorf("stats %+v, want applied=2 decode_errors=2", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The work queue is empty: nothing is waiting to be redelivered.
	err = harness.WaitFor(ctx, 20*time.Second, func() error {
		info, err := js.Stream(ctx, StreamName)
		if err != nil {
			return err
		}
		if n := info.CachedInfo().State.Msgs; n != 0 {
			return fmt.Errorf("%d messages left in the stream", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The counters are on /metrics, once every partition consumer runs
	// (starting 64 may take a while on a loaded machine).
	err = harness.WaitFor(ctx, 30*time.Second, func() error {
		if n := len(a.Stats().Owned); n != 64 {
			return fmt.Errorf("owns %d partitions", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mresp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mbody, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{"edgepulse_aggregator_batches_applied_total 2\n", "edgepulse_aggregator_decode_errors_total 2\n", "edgepulse_aggregator_partitions_owned 64\n"} {
		if !strings.Contains(string(mbody), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, mbody)
		}
	}

	// Both windows are queryable, each once.
	q := url.Values{"query": {"node_load1:count"}, "start": {strconv.FormatInt(testBase/1000, 10)}, "end": {strconv.FormatInt(testBase/1000+300, 10)}, "step": {"60"}}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/api/v1/query_range?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr struct {
		Data struct {
			Result []struct {
				Metric map[string]string
				Values [][2]any
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&pr)
	if len(pr.Data.Result) != 1 || pr.Data.Result[0].Metric["site"] != "s1" {
		t.Fatalf("result %+v", pr.Data.Result)
	}
	refs, err := a.Store().SeriesOf(ctx, []string{"node_load1"})
	if err != nil || len(refs) != 1 {
		t.Fatalf("SeriesOf: %v %v", refs, err)
	}
	pts, err := a.Store().Points(ctx, refs, 0, time.Now().UnixMilli())
	n := 0
	if err == nil {
		n = len(pts[0])
	}
	if err != nil || n != 2 {
		t.Fatalf("stored windows = %d (%v), want 2", n, err)
	}
}

// testBase is an hour boundary three hours ago (Unix ms): stored blocks
// expire at their end plus the retention, in the windows' own time.
var testBase = time.Now().Add(-3*time.Hour).UnixMilli() / store.HourMs * store.HourMs

func sidOf(t *testing.T, a *Aggregator, ctx context.Context) string {
	refs, err := a.Store().SeriesOf(ctx, []string{"node_load1"})
	if err != nil || len(refs) != 1 {
		t.Fatalf("SeriesOf: %v %v", refs, err)
	}
	return refs[0].ID
}

// TestSubjectPartition checks the stream stores tele.<site>.<host> as
// tele.<site>.<host>.<partition> with nats-server's partition(64,1,2):
// FNV-1a 32 over site and host concatenated, modulo 64.
func TestSubjectPartition(t *testing.T) {
	a, ctx := startAggregator(t)
	_, js := connect(t, a)
	want := map[int]uint64{}
	for i, host := range []string{"hostA", "hostB", "hostC", "gw-17"} {
		bt := testBatchOf(uint64(i + 1))
		bt.Site, bt.Host, bt.Agent = "siteA", host, "siteA/"+host // the batch claims its subject's site and host
		if _, err := js.Publish(ctx, "tele.siteA."+host, keyframe(bt), jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		h := fnv.New32a()
		h.Write([]byte("siteA" + host))
		want[int(h.Sum32()%64)]++
	}
	err := harness.WaitFor(ctx, 10*time.Second, func() error {
		if got := a.Stats().Partitions; !maps.Equal(got, want) {
			return fmt.Errorf("batches per partition %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestIncidentsRepublishedAndQueryable sends an incident's open and close
// in two batches: each is republished as JSON on alerts.<site>.<host>, the
// open one is listed by /api/v1/alerts until the close arrives, and a
// redelivered open after the close does not reopen it.
func TestIncidentsRepublishedAndQueryable(t *testing.T) {
	a, ctx := startAggregator(t)
	nc, _ := connect(t, a)
	sub, err := nc.SubscribeSync("alerts.>")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	withEvent := func(seq uint64, kind codec.EventKind) []byte {
		b := testBatchOf(seq)
		b.Events = []codec.Event{{Kind: kind, Incident: uint64(testBase + 120_000), Series: "cpu_busy_percent", TS: testBase + 120_000 + int64(seq),
			Score: 0.97, Value: 99, Reason: "ewma,spot", Start: testBase + 70_000, Step: 1000, Context: []float64{3, 4, 99}}}
		return keyframe(b)
	}
	openAlerts := func() int {
		var r struct {
			Data struct{ Alerts []map[string]any }
		}
		resp, err := http.Get("http://" + a.HTTPAddr() + "/api/v1/alerts")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&r)
		return len(r.Data.Alerts)
	}
	if _, err := js.Publish(ctx, "tele.s1.h1", withEvent(1, codec.Open), jetstream.WithMsgID("e1")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(m.Data, &got); err != nil {
		t.Fatal(err)
	}
	if m.Subject != "alerts.s1.h1" || got["state"] != "open" || got["series"] != "cpu_busy_percent" || len(got["context"].([]any)) != 3 {
		t.Fatalf("alert on %s: %v", m.Subject, got)
	}
	if err := harness.WaitFor(ctx, 10*time.Second, func() error {
		if n := openAlerts(); n != 1 {
			return fmt.Errorf("%d open alerts, want 1", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	js.Publish(ctx, "tele.s1.h1", withEvent(2, codec.Close), jetstream.WithMsgID("e2"))
	js.Publish(ctx, "tele.s1.h1", withEvent(3, codec.Open), jetstream.WithMsgID("e3")) // a late redelivery of the open
	if err := harness.WaitFor(ctx, 10*time.Second, func() error {
		if st := a.Stats(); st.Applied != 3 {
			return fmt.Errorf("applied %d", st.Applied)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := openAlerts(); n != 0 {
		t.Fatalf("%d open alerts after the close, want 0", n)
	}
}

// TestDeltaFrames publishes a chain of delta frames out of order: a frame
// whose base has not been applied waits for it, then both apply. A member
// that never saw the chain (its decoder forgotten) continues from the state
// saved in Redis.
func TestDeltaFrames(t *testing.T) {
	a, ctx := startAggregator(t)
	_, js := connect(t, a)
	enc, err := codec.NewEncoder(codec.DefaultWireOptions())
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for seq := uint64(1); seq <= 4; seq++ {
		p, err := enc.Encode(nil, testBatchOf(seq))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, p)
	}
	pub := func(i int) {
		t.Helper()
		if _, err := js.Publish(ctx, "tele.s1.h1", frames[i], jetstream.WithMsgID(fmt.Sprint("s1/h1/", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	waitApplied := func(n uint64) {
		t.Helper()
		err := harness.WaitFor(ctx, 20*time.Second, func() error {
			if st := a.Stats(); st.Applied != n {
				return fmt.Errorf("stats %+v, want applied=%d", st, n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	pub(1) // packed against frame 1, which is not there yet
	err = harness.WaitFor(ctx, 10*time.Second, func() error {
		if st := a.Stats(); st.BaseWaits == 0 {
			return fmt.Errorf("stats %+v, want a base wait", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pub(0)
	pub(2)
	waitApplied(3)
	a.ingest.wire.forget("s1/h1")
	pub(3)
	waitApplied(4)

	// Out of order across a keyframe: 6 (packed on 5) comes first and waits,
	// then the keyframe 7 is applied, then 5; 6 must still find its base.
	for seq := uint64(5); seq <= 7; seq++ {
		if seq == 7 {
			enc.Reset()
		}
		p, err := enc.Encode(nil, testBatchOf(seq))
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, p)
	}
	pub(5)
	err = harness.WaitFor(ctx, 10*time.Second, func() error {
		if st := a.Stats(); st.BaseWaits < 2 {
			return fmt.Errorf("stats %+v, want frame 6 waiting", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pub(6)
	waitApplied(5)
	pub(4)
	waitApplied(7)
	if st := a.Stats(); st.BaseLost != 0 || st.DecodeErrors != 0 || st.Applied != 7 {
		t.Fatalf("stats %+v, want 7 applied, nothing lost or rejected", st)
	}

	// A redelivery of an applied frame to a member that never saw it is
	// recognised from the state saved in Redis (here: the same frame
	// stored again under another message id).
	a.ingest.wire.forget("s1/h1")
	if _, err := js.Publish(ctx, "tele.s1.h1", frames[6], jetstream.WithMsgID("again")); err != nil {
		t.Fatal(err)
	}
	err = harness.WaitFor(ctx, 10*time.Second, func() error {
		if st := a.Stats(); st.Duplicates != 1 {
			return fmt.Errorf("stats %+v, want 1 duplicate", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every window is stored with its values (within the wire precision).
	q := url.Values{"query": {"node_load1:max"}, "start": {strconv.FormatInt(testBase/1000, 10)}, "end": {strconv.FormatInt(testBase/1000+600, 10)}, "step": {"60"}}
	resp, err := http.Get("http://" + a.HTTPAddr() + "/api/v1/query_range?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Result []struct{ Values [][2]any }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Data.Result) != 1 {
		t.Fatalf("result %+v, want one series", r.Data)
	}
	prec := codec.DefaultWireOptions().Precision
	for seq := 1.0; seq <= 7; seq++ {
		found := false
		for _, v := range r.Data.Result[0].Values {
			x, _ := strconv.ParseFloat(v[1].(string), 64)
			found = found || math.Abs(x-seq) <= prec*(1+prec)*seq
		}
		if !found {
			t.Errorf("max %v of window %v (within %v) missing from %v", seq, seq, prec, r.Data.Result[0].Values)
		}
	}

	// The live meter counts each frame once, by its window's minute.
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	bh, err := a.Store().Backhauls(ctx, 10, time.UnixMilli(testBatchOf(7).Start+120_000))
	if err != nil {
		t.Fatal(err)
	}
	if len(bh) != 1 || bh[0].Site != "s1" || bh[0].Frames != 7 || bh[0].Bytes != int64(total) || bh[0].BytesPerHostMinute != float64(total)/7 {
		t.Fatalf("backhaul %+v, want site s1: 7 frames, %d bytes, %v per host-minute", bh, total, float64(total)/7)
	}
	// One host in each of the 7 minutes that had data: 1 host, not 7/10.
	if bh[0].Hosts != 1 || bh[0].Reporting != 7 {
		t.Fatalf("backhaul hosts %v over %d reporting minutes, want 1 over 7", bh[0].Hosts, bh[0].Reporting)
	}
}

// TestKeyframeAsked: a frame whose body is corrupt breaks its agent's
// chain, so the aggregator asks the agent for a keyframe — once per
// keyframeEvery at most.
func TestKeyframeAsked(t *testing.T) {
	a, ctx := startAggregator(t)
	nc, _ := connect(t, a)
	asks, err := nc.SubscribeSync(codec.AgentSubject("s1", "h1", codec.EndpointKeyframe))
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	for seq := uint64(1); seq <= 2; seq++ {
		f, err := codec.ParseFrame(testBatch(seq))
		if err != nil {
			t.Fatal(err)
		}
		f.Body = []byte("corrupt body")
		f.RawLen = uint32(len(f.Body))
		p, err := f.MarshalMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "tele.s1.h1", p, jetstream.WithMsgID(fmt.Sprint("s1/h1/", seq))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := asks.NextMsg(15 * time.Second); err != nil {
		t.Fatalf("no keyframe request after a corrupt frame: %v", err)
	}
	err = harness.WaitFor(ctx, 20*time.Second, func() error {
		if st := a.Stats(); st.DecodeErrors != 2 {
			return fmt.Errorf("stats %+v, want decode_errors=2", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.KeyframesAsked != 1 {
		t.Fatalf("keyframes asked %d after two corrupt frames within a minute, want 1", st.KeyframesAsked)
	}
	if m, err := asks.NextMsg(100 * time.Millisecond); err == nil {
		t.Fatalf("second keyframe request within a minute: %s", m.Subject)
	}
}

// TestDecodersIdleSweep: the states of an agent not seen for idleAgent
// are dropped by a later sweep; agents seen lately stay.
func TestDecodersIdleSweep(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d := newDecoders()
	d.now = func() time.Time { return now }
	old := d.agent("s1/gone")
	old.newest = 7
	d.agent("s1/live")
	now = now.Add(idleAgent / 2)
	for range sweepEvery {
		d.agent("s1/live")
	}
	if n := d.agents(); n != 2 {
		t.Fatalf("%d agents after half the idle time, want 2", n)
	}
	now = now.Add(idleAgent/2 + time.Second)
	for range sweepEvery {
		d.agent("s1/live")
	}
	if n := d.agents(); n != 1 {
		t.Fatalf("%d agents after s1/gone idled out, want 1", n)
	}
	if w := d.agent("s1/gone"); w == old || w.newest != 0 {
		t.Fatal("s1/gone kept its states past the idle time")
	}
}
