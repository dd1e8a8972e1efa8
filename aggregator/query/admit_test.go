package query

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func queryAt(q string) url.Values {
	return url.Values{"query": {q}, "time": {strconv.FormatInt((t0+600_000)/1000, 10)}}
}

// TestAdmitQueue: with the one slot taken, a request waits queue_timeout
// and gets 503 with Retry-After; with the queue full too, at once.
func TestAdmitQueue(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{MaxConcurrent: 1, MaxQueued: 1, QueueTimeout: 300 * time.Millisecond}, slog.New(slog.DiscardHandler))
	hold, err := api.adm.admit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec := do(api, "/api/v1/query", queryAt("node_load1"))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("status %d Retry-After %q, want 503 and 1: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("refused after %v, before queue_timeout", waited)
	}
	// One request queued; the next is refused at once.
	done := make(chan int)
	go func() { done <- do(api, "/api/v1/query", queryAt("node_load1")).Code }()
	waitFor(t, "a queued request", func() bool { return api.AdmitStats().Queued == 1 })
	start = time.Now()
	if rec := do(api, "/api/v1/query", queryAt("node_load1")); rec.Code != http.StatusServiceUnavailable || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("with the queue full: status %d after %v, want 503 at once", rec.Code, time.Since(start))
	}
	hold.release()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the queued request got %d once the slot was free, want 200", code)
	}
	st := api.AdmitStats()
	if st.TimedOut != 1 || st.Full != 1 || st.Running != 0 || st.Queued != 0 {
		t.Fatalf("stats %+v, want 1 timed out, 1 full, none running or queued", st)
	}
}

// TestHeavySlots: a query past heavy_samples gives its ordinary slot
// back while it waits for a heavy slot, so a light query runs with the
// only ordinary slot; a heavy query that cannot get a heavy slot in time
// gets 503.
func TestHeavySlots(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{MaxConcurrent: 1, HeavySamples: 20, HeavySlots: 1, QueueTimeout: 3 * time.Second},
		slog.New(slog.DiscardHandler))
	// A first query teaches the estimate the agents' 60 s windows
	// (estimate.go assumes 1 s for an agent never loaded).
	if rec := do(api, "/api/v1/query", queryAt("node_load1")); rec.Code != http.StatusOK {
		t.Fatalf("warm-up: status %d: %s", rec.Code, rec.Body)
	}
	api.adm.heavy <- struct{}{}                                // the heavy slot is taken
	heavy := queryAt("sum(rate(node_cpu_seconds_total[10m]))") // 8 series × 10 windows
	done := make(chan int)
	go func() { done <- do(api, "/api/v1/query", heavy).Code }()
	waitFor(t, "the heavy query to queue", func() bool { return api.AdmitStats().HeavyQueued == 1 })
	start := time.Now()
	rec := do(api, "/api/v1/query", queryAt("node_load1")) // 2 series × 5 windows
	if rec.Code != http.StatusOK {
		t.Fatalf("light query beside a waiting heavy one: status %d: %s", rec.Code, rec.Body)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("light query took %v behind the heavy one", d)
	}
	<-api.adm.heavy
	if code := <-done; code != http.StatusOK {
		t.Fatalf("heavy query got %d once the heavy slot was free, want 200", code)
	}
	// Heavy slot taken, short timeout: 503 with Retry-After.
	api.adm.lim.QueueTimeout = 100 * time.Millisecond
	api.adm.heavy <- struct{}{}
	rec = do(api, "/api/v1/query", heavy)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("heavy query without a heavy slot: status %d Retry-After %q, want 503: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	<-api.adm.heavy
	st := api.AdmitStats()
	if st.Heavy != 3 || st.HeavyTimedOut != 1 || st.Running != 0 || st.HeavyRunning != 0 {
		t.Fatalf("stats %+v, want 3 heavy (the warm-up's estimate with 1 s windows too), 1 timed out, nothing running", st)
	}
	if gs := api.GuardStats(); gs.Timeouts != 0 {
		t.Fatalf("an admission refusal was counted as a timeout: %+v", gs)
	}
}

// TestSampleBudget: a query loading more than max_samples is a 422
// naming the limit, counted.
func TestSampleBudget(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{MaxSamples: 30, HeavySamples: 10}, slog.New(slog.DiscardHandler))
	rec := do(api, "/api/v1/query", queryAt("sum(rate(node_cpu_seconds_total[10m]))"))
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("status %d, want 422: %s", rec.Code, rec.Body)
	}
	if st := api.AdmitStats(); st.Budget != 1 || st.HeavyRunning != 0 || st.Running != 0 {
		t.Fatalf("stats %+v, want 1 over budget and the slots back", st)
	}
	if rec := do(api, "/api/v1/query", queryAt("node_load1")); rec.Code != http.StatusOK {
		t.Fatalf("a small query after it: status %d: %s", rec.Code, rec.Body)
	}
}
