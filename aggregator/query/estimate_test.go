package query

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/aggregator/store"
)

// TestEstimateSamples: one point per window of each series, 1 s windows
// for an agent never loaded, the learned width after.
func TestEstimateSamples(t *testing.T) {
	var w widths
	refs := []store.SeriesRef{{Agent: "s/a"}, {Agent: "s/a"}, {Agent: "s/b"}}
	if n := w.estimateSamples(refs, 0, 60_000, false); n != 3*61 {
		t.Fatalf("unknown widths: %d, want %d", n, 3*61)
	}
	w.learn("s/a", 10_000)
	if n := w.estimateSamples(refs, 0, 60_000, false); n != 2*7+61 {
		t.Fatalf("s/a at 10 s: %d, want %d", n, 2*7+61)
	}
	if n := w.estimateSamples(refs, 0, 2*store.HourMs, true); n != 3*3 {
		t.Fatalf("hourly: %d, want 9", n)
	}
}

// TestReserveTakesHeavySlot: a reservation past heavy_samples trades the
// ordinary slot for a heavy one before anything is loaded; one within it
// keeps the ordinary slot.
func TestReserveTakesHeavySlot(t *testing.T) {
	ad := newAdmitter(Limits{MaxConcurrent: 2, MaxQueued: 1, QueueTimeout: 100 * time.Millisecond, HeavySamples: 100, HeavySlots: 1, HeavyQueued: 1})
	ctx := context.Background()
	light, err := ad.admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := light.reserve(ctx, 100); err != nil || light.held != heldSlot {
		t.Fatalf("reserve(100): %v, held %d: want the ordinary slot", err, light.held)
	}
	heavy, err := ad.admit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := heavy.reserve(ctx, 101); err != nil || heavy.held != heldHeavy || len(ad.slots) != 1 || len(ad.heavy) != 1 {
		t.Fatalf("reserve(101): %v, held %d, %d slots %d heavy: want the heavy slot and the ordinary one back", err, heavy.held, len(ad.slots), len(ad.heavy))
	}
	if heavy.loaded != 0 {
		t.Fatalf("a reservation counted %d samples as loaded", heavy.loaded)
	}
	heavy.release()
	light.release()
	if len(ad.slots)+len(ad.heavy) != 0 {
		t.Fatal("slots not given back")
	}
}

// TestHeavyMemo: a query that was heavy takes a heavy slot at once the
// next time, so it runs with every ordinary slot taken; a light one still
// needs an ordinary slot.
func TestHeavyMemo(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{MaxConcurrent: 1, MaxQueued: 1, HeavySamples: 20, HeavySlots: 1, QueueTimeout: 200 * time.Millisecond},
		slog.New(slog.DiscardHandler))
	heavy := queryAt("sum(rate(node_cpu_seconds_total[10m]))") // 8 series × 10 windows
	if rec := do(api, "/api/v1/query", heavy); rec.Code != http.StatusOK {
		t.Fatalf("first heavy run: %d %s", rec.Code, rec.Body)
	}
	api.adm.slots <- struct{}{} // every ordinary slot taken
	if rec := do(api, "/api/v1/query", heavy); rec.Code != http.StatusOK {
		t.Fatalf("heavy query again with the ordinary slots taken: %d %s, want 200 (straight to a heavy slot)", rec.Code, rec.Body)
	}
	if rec := do(api, "/api/v1/query", queryAt("node_load1")); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("light query with the ordinary slots taken: %d, want 503", rec.Code)
	}
	<-api.adm.slots
}

// TestTooManySeriesIsHeavy: a query refused for matching more than
// max_series read the index of all of them: its next run waits for a
// heavy slot, not an ordinary one.
func TestTooManySeriesIsHeavy(t *testing.T) {
	api := NewAPI(&Queryable{Store: fill(t)}, Limits{MaxSeries: 2, MaxConcurrent: 1, MaxQueued: 1, HeavySlots: 1, QueueTimeout: 200 * time.Millisecond},
		slog.New(slog.DiscardHandler))
	wide := queryAt("node_cpu_seconds_total") // 8 series
	if rec := do(api, "/api/v1/query", wide); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("first run: %d %s, want 422", rec.Code, rec.Body)
	}
	api.adm.slots <- struct{}{} // every ordinary slot taken
	defer func() { <-api.adm.slots }()
	if rec := do(api, "/api/v1/query", wide); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("second run with the ordinary slots taken: %d %s, want 422 from a heavy slot", rec.Code, rec.Body)
	}
}
