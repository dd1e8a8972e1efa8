package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edgepulse/edgepulse/codec"
)

// startServer runs an in-process nats-server with JetStream and the
// telemetry stream, on port (-1 for a random one) with its store in dir.
func startServer(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	_, err = js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: "TELEMETRY", Subjects: []string{"tele.*.*"}, Duplicates: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// streamBatches returns every batch stored in the stream.
func streamBatches(t *testing.T, url string) []*codec.Batch {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	s, err := js.Stream(ctx, "TELEMETRY")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	var out []*codec.Batch
	dec := codec.NewDecoder()
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("get msg %d: %v", seq, err)
		}
		if len(m.Header) != 1 || m.Header.Get(jetstream.MsgIDHeader) == "" {
			t.Fatalf("msg %d headers %v, want only %s", seq, m.Header, jetstream.MsgIDHeader)
		}
		b, err := dec.Decode(m.Data)
		if err != nil {
			t.Fatalf("msg %d: %v", seq, err)
		}
		out = append(out, b)
	}
	return out
}

func fixtureConfig(t *testing.T, url string) Config {
	c := DefaultConfig()
	c.Site, c.Host = "s1", "h1"
	c.NATSURL = url
	c.Window, c.Lateness = time.Second, 200*time.Millisecond
	c.ProcRoot, _ = filepath.Abs("../collect/testdata/proc")
	c.DataDir = t.TempDir()
	c.MetricsListen = "off"
	return c
}

// TestOutageSpoolsAndDrainsOnce runs the agent, takes its server away
// for a few windows, brings it back on the same port and store, and checks
// that every window reached the stream exactly once, in order.
func TestOutageSpoolsAndDrainsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	storeDir := t.TempDir()
	ns := startServer(t, -1, storeDir)
	url := ns.ClientURL()
	var p int
	fmt.Sscanf(url[len("nats://127.0.0.1:"):], "%d", &p)

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := New(fixtureConfig(t, url), log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stats %+v", what, a.Stats())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("2 published windows", func() bool { return a.Stats().Forward.Published >= 2 })

	ns.Shutdown()
	ns.WaitForShutdown()
	spooledBefore := a.Stats().Windows
	waitFor("3 windows spooled during the outage", func() bool {
		st := a.Stats()
		return st.Windows >= spooledBefore+3 && st.Spool.Batches >= 3
	})

	ns = startServer(t, p, storeDir)
	defer ns.Shutdown()
	waitFor("the spool to drain", func() bool { st := a.Stats(); return st.Spool.Batches == 0 && st.Windows >= spooledBefore+4 })
	cancel()
	<-done

	batches := streamBatches(t, ns.ClientURL())
	st := a.Stats()
	if uint64(len(batches)) != st.Windows {
		t.Fatalf("stream holds %d batches, agent spooled %d windows (stats %+v)", len(batches), st.Windows, st)
	}
	seen := map[int64]bool{}
	for i, b := range batches {
		if seen[b.Start] {
			t.Fatalf("window %d stored twice", b.Start)
		}
		seen[b.Start] = true
		if i > 0 && (b.Seq != batches[i-1].Seq+1 || b.Start <= batches[i-1].Start) {
			t.Fatalf("batch %d (seq %d, start %d) out of order after seq %d start %d", i, b.Seq, b.Start, batches[i-1].Seq, batches[i-1].Start)
		}
		if len(b.Rollups) == 0 {
			t.Fatalf("batch seq %d is empty", b.Seq)
		}
	}
}

// TestMetricsEndpoint scrapes the agent's own /metrics after a window.
func TestMetricsEndpoint(t *testing.T) {
	ns := startServer(t, -1, t.TempDir())
	defer ns.Shutdown()
	cfg := fixtureConfig(t, ns.ClientURL())
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for a.Stats().Forward.Published < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing published: %+v", a.Stats())
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec := httptest.NewRecorder()
	a.ServeMetrics(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"edgepulse_agent_published_total ", "edgepulse_agent_spool_bytes ", `edgepulse_agent_source_errors_total{source="stat"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "edgepulse_agent_published_total 0\n") {
		t.Errorf("/metrics says nothing was published:\n%s", body)
	}
	// The page parses as the Prometheus text format, with types.
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for name, typ := range map[string]dto.MetricType{
		"edgepulse_agent_published_total":     dto.MetricType_COUNTER,
		"edgepulse_agent_spool_bytes":         dto.MetricType_GAUGE,
		"edgepulse_agent_source_errors_total": dto.MetricType_COUNTER,
		"process_resident_memory_bytes":       dto.MetricType_GAUGE,
	} {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("family %s: %v, want a %v", name, f, typ)
		}
	}
	if f := fams["edgepulse_agent_published_total"]; f != nil && f.GetMetric()[0].GetCounter().GetValue() < 1 {
		t.Errorf("edgepulse_agent_published_total = %v", f.GetMetric()[0].GetCounter().GetValue())
	}
}

// TestCollectPhase: every agent reads a fixed phase after the aligned
// instant, below half the interval and 500 ms, different across hosts.
func TestCollectPhase(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := range 50 {
		id := fmt.Sprintf("site1/host-%02d", i)
		p := collectPhase(id, time.Second)
		if p < 0 || p >= 500*time.Millisecond || p != collectPhase(id, time.Second) {
			t.Fatalf("phase %v for %s", p, id)
		}
		seen[p] = true
		if q := collectPhase(id, 100*time.Millisecond); q >= 50*time.Millisecond {
			t.Fatalf("phase %v for a 100ms interval", q)
		}
	}
	if len(seen) < 25 {
		t.Errorf("50 hosts share %d phases", len(seen))
	}
}
