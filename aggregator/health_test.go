package aggregator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgepulse/edgepulse/aggregator/store"
	"github.com/edgepulse/edgepulse/testbench/harness"
)

// startRedisOn starts redis-server on addr (a restart on the port of one
// that stopped), as harness.StartRedis does.
func startRedisOn(ctx context.Context, t *testing.T, addr string) *harness.Proc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	p, err := harness.Start("redis", dir, nil, bin, "--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if err := harness.WaitTCP(ctx, addr, 15*time.Second); err != nil {
		t.Fatalf("redis on %s: %v\n%s", addr, err, p.Tail(2000))
	}
	return p
}

// startAggregatorWith starts an aggregator on a Redis of its own, with
// edit applied to its config; it returns the Redis too.
func startAggregatorWith(t *testing.T, edit func(*Config)) (*Aggregator, *harness.Redis, context.Context) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	cfg := DefaultConfig()
	cfg.Name = "test-hub"
	cfg.NATS.Port, cfg.NATS.LeafPort, cfg.NATS.StoreDir = -1, -1, t.TempDir()
	cfg.Redis.Addr = r.Addr
	cfg.HTTP = "127.0.0.1:0"
	edit(&cfg)
	a, err := New(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a, r, ctx
}

// get fetches path from a's HTTP listener.
func get(t *testing.T, a *Aggregator, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue reads one sample of a /metrics page ("" name{labels}).
func metricValue(page, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// TestHealthThroughRedisOutage stops Redis under a running aggregator:
// /healthz stays 200 throughout, /readyz turns 503 naming redis once
// writes have failed for redis_unready_after, the write errors are
// counted by reason, the capacity gauges keep their last values, and
// once Redis is back on its port /readyz recovers and the batch written
// during the outage is stored.
func TestHealthThroughRedisOutage(t *testing.T) {
	a, r, ctx := startAggregatorWith(t, func(c *Config) { c.RedisUnreadyAfter = time.Second })
	_, js := connect(t, a)
	expect := func(path string, code int, body string) error {
		got, b := get(t, a, path)
		if got != code || !strings.Contains(b, body) {
			return fmt.Errorf("%s: %d %q, want %d with %q", path, got, b, code, body)
		}
		return nil
	}
	if err := harness.WaitFor(ctx, 30*time.Second, func() error { return expect("/readyz", 200, "redis=ok") }); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "tele.s1.h1", testBatch(1), jetstream.WithMsgID("s1/h1/1")); err != nil {
		t.Fatal(err)
	}
	if err := harness.WaitFor(ctx, 30*time.Second, func() error {
		if st := a.Stats(); st.Applied != 1 {
			return fmt.Errorf("applied %d", st.Applied)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a.health.refreshCapacity(ctx)
	_, page := get(t, a, "/metrics")
	if v, ok := metricValue(page, "edgepulse_store_series"); !ok || v != 1 {
		t.Fatalf("edgepulse_store_series = %v (%v) before the outage:\n%s", v, ok, page)
	}

	r.Stop()
	if _, err := js.Publish(ctx, "tele.s1.h1", testBatch(2), jetstream.WithMsgID("s1/h1/2")); err != nil {
		t.Fatal(err)
	}
	err := harness.WaitFor(ctx, 30*time.Second, func() error {
		if err := expect("/healthz", 200, "ok member=test-hub"); err != nil {
			t.Fatalf("liveness failed during the Redis outage: %v", err)
		}
		if err := expect("/readyz", 503, "redis: "); err != nil {
			return err
		}
		if st := a.Stats(); st.StoreWriteErrors[store.ReasonConnection] == 0 {
			return fmt.Errorf("write errors by reason %v", st.StoreWriteErrors)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, body := get(t, a, "/readyz")
	if !strings.Contains(body, "failing for") || !strings.Contains(body, "connection refused") {
		t.Errorf("/readyz body %q does not say why", body)
	}
	a.health.refreshCapacity(ctx)
	_, page = get(t, a, "/metrics")
	for series, want := range map[string]float64{
		"edgepulse_store_series":                 1,
		"edgepulse_store_capacity_errors_total":  1,
		"edgepulse_aggregator_ready":             0,
		"edgepulse_store_redis_max_memory_bytes": 0,
	} {
		if v, ok := metricValue(page, series); !ok || v != want {
			t.Errorf("during the outage %s = %v (%v), want %v", series, v, ok, want)
		}
	}
	if v, ok := metricValue(page, `edgepulse_aggregator_store_write_errors_total{reason="connection"}`); !ok || v < 1 {
		t.Errorf(`write_errors_total{reason="connection"} = %v (%v), want ≥ 1:%s`, v, ok, page)
	}
	if v, ok := metricValue(page, `edgepulse_aggregator_store_write_errors_total{reason="readonly"}`); !ok || v != 0 {
		t.Errorf(`write_errors_total{reason="readonly"} = %v (%v), want 0`, v, ok)
	}
	// Whether a pipelined write failed (or only the wire-state read before
	// it) depends on the timing; the probe made /readyz fail either way.
	if _, ok := metricValue(page, "edgepulse_aggregator_store_write_failing_seconds"); !ok {
		t.Errorf("no edgepulse_aggregator_store_write_failing_seconds on /metrics")
	}

	startRedisOn(ctx, t, r.Addr)
	err = harness.WaitFor(ctx, 60*time.Second, func() error {
		if err := expect("/healthz", 200, "ok"); err != nil {
			t.Fatalf("liveness failed after Redis came back: %v", err)
		}
		if err := expect("/readyz", 200, "redis=ok"); err != nil {
			return err
		}
		if st := a.Stats(); st.Applied != 2 {
			return fmt.Errorf("applied %d, want 2", st.Applied)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCapacityMetrics checks the capacity gauges on /metrics and the
// memory warning against a real Redis's maxmemory.
func TestCapacityMetrics(t *testing.T) {
	a, _, ctx := startAggregatorWith(t, func(*Config) {})
	_, js := connect(t, a)
	start := time.Now().Add(-10*time.Minute).UnixMilli() / 60_000 * 60_000
	for seq := range uint64(3) {
		b := testBatchOf(seq + 1)
		b.Start = start + int64(seq)*60_000
		if _, err := js.Publish(ctx, "tele.s1.h1", keyframe(b), jetstream.WithMsgID(fmt.Sprint(seq))); err != nil {
			t.Fatal(err)
		}
	}
	if err := harness.WaitFor(ctx, 30*time.Second, func() error {
		if st := a.Stats(); st.Applied != 3 {
			return fmt.Errorf("applied %d", st.Applied)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a.health.refreshCapacity(ctx)
	_, page := get(t, a, "/metrics")
	for series, want := range map[string]float64{
		"edgepulse_store_series":                 1,
		"edgepulse_store_windows":                3,
		"edgepulse_store_redis_max_memory_bytes": 0,
		"edgepulse_store_memory_warning":         0,
		"edgepulse_store_capacity_errors_total":  0,
		"edgepulse_aggregator_ready":             1,
	} {
		if v, ok := metricValue(page, series); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", series, v, ok, want)
		}
	}
	used, _ := metricValue(page, "edgepulse_store_redis_used_memory_bytes")
	bpw, _ := metricValue(page, "edgepulse_store_bytes_per_window")
	if used <= 0 || bpw != used/3 {
		t.Errorf("used_memory %v, bytes_per_window %v, want > 0 and used/3", used, bpw)
	}

	// maxmemory just above used_memory: above 0.8 of it.
	rdb := a.Store().Client()
	if err := rdb.ConfigSet(ctx, "maxmemory", strconv.FormatInt(int64(used*1.1), 10)).Err(); err != nil {
		t.Fatal(err)
	}
	a.health.refreshCapacity(ctx)
	_, page = get(t, a, "/metrics")
	if v, _ := metricValue(page, "edgepulse_store_memory_warning"); v != 1 {
		t.Errorf("memory_warning = %v with maxmemory at 1.1 × used_memory", v)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "1gb").Err(); err != nil {
		t.Fatal(err)
	}
	a.health.refreshCapacity(ctx)
	_, page = get(t, a, "/metrics")
	if v, _ := metricValue(page, "edgepulse_store_memory_warning"); v != 0 {
		t.Errorf("memory_warning = %v with maxmemory 1gb", v)
	}
	if v, _ := metricValue(page, "edgepulse_store_redis_max_memory_bytes"); v != 1<<30 {
		t.Errorf("max_memory_bytes = %v with maxmemory 1gb", v)
	}
}

func TestMemWarn(t *testing.T) {
	m := memWarn{fraction: 0.8}
	for i, step := range []struct {
		used, max int64
		want      int
		over      bool
	}{
		{100, 0, memUnbounded, false},
		{100, 0, memNone, false}, // told once
		{70, 100, memNone, false},
		{81, 100, memOver, true},
		{90, 100, memNone, true}, // once per crossing
		{80, 100, memBelow, false},
		{50, 100, memNone, false},
		{85, 100, memOver, true}, // and again
		{85, 0, memBelow, false}, // maxmemory removed
		{85, 0, memNone, false},
	} {
		if got := m.update(store.Capacity{UsedMemory: step.used, MaxMemory: step.max}); got != step.want || m.over != step.over {
			t.Errorf("step %d (%d of %d): event %d over %v, want %d %v", i, step.used, step.max, got, m.over, step.want, step.over)
		}
	}
}

// TestStreak checks the failing runs readiness is computed from.
func TestStreak(t *testing.T) {
	var s streak
	t0 := time.Unix(1000, 0)
	if d, err := s.failing(t0, 0); d != 0 || err != nil {
		t.Fatalf("fresh streak failing %v %v", d, err)
	}
	s.fail(fmt.Errorf("first"), t0)
	s.fail(fmt.Errorf("READONLY second"), t0.Add(5*time.Second))
	if d, err := s.failing(t0.Add(7*time.Second), 0); d != 7*time.Second || err == nil || err.Error() != "READONLY second" {
		t.Errorf("failing = %v %v, want 7s and the last error", d, err)
	}
	if d, _ := s.failing(t0.Add(60*time.Second), 30*time.Second); d != 0 {
		t.Errorf("a run whose last failure is 55s old counts %v with stale 30s", d)
	}
	s.ok(t0.Add(8 * time.Second))
	if d, err := s.failing(t0.Add(9*time.Second), 0); d != 0 || err != nil {
		t.Errorf("after a success failing = %v %v", d, err)
	}
}
