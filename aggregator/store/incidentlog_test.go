package store

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// incident is an open event as an agent sends it: 61 raw samples of
// context (detect.context 30, the default).
func incident(n int, at time.Time) Incident {
	in := Incident{Site: "s1", Host: fmt.Sprintf("h%d", n%7), Agent: "s1/h1", State: "open", Incident: uint64(n),
		Series: "cpu_busy_percent", Labels: map[string]string{"cpu": "0"}, Time: at.UnixMilli(), Score: 4.25, Value: 97.5,
		Reason: "value 97.5 above 90 for 10s", ContextStart: at.Add(-30 * time.Second).UnixMilli(), ContextStepMs: 1000}
	for i := range 61 {
		in.Context = append(in.Context, 40+30*math.Sin(float64(n+i)/7))
	}
	return in
}

func writeIncidents(t *testing.T, s *Store, incs ...Incident) {
	t.Helper()
	ctx := context.Background()
	w := s.NewWrite()
	if err := w.AddIncidents(ctx, incs); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestIncidentLogBounded: the event log keeps at most incident_log_max
// events and none older than incident_log_retention, removing the oldest
// first and counting what it removed; the open incidents are not touched.
func TestIncidentLogBounded(t *testing.T) {
	ctx := context.Background()
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	s, err := Open(ctx, Options{Addr: r.Addr, Prefix: "t:", IncidentLogMax: 100, IncidentLogRetention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	logKey := s.key(incidentTag, "log")
	now := time.Now()

	// 150 events in three writes, a second apart, oldest first.
	for b := range 3 {
		var incs []Incident
		for i := range 50 {
			n := b*50 + i
			incs = append(incs, incident(n, now.Add(time.Duration(n-150)*time.Second)))
		}
		writeIncidents(t, s, incs...)
	}
	if n := s.rdb.ZCard(ctx, logKey).Val(); n != 100 {
		t.Fatalf("log holds %d events, want 100 (incident_log_max)", n)
	}
	if got := s.IncidentsTrimmed(); got != 50 {
		t.Errorf("trimmed counter %d, want 50", got)
	}
	recent, bad, err := s.RecentIncidents(ctx, now.Add(-time.Hour), now, MaxRecentIncidents)
	if err != nil || bad != 0 {
		t.Fatal(err, bad)
	}
	if len(recent) != 100 || recent[0].Incident != 149 || recent[99].Incident != 50 {
		t.Fatalf("kept %d events, newest %d, oldest %d; want the newest 100 (149 … 50)", len(recent), recent[0].Incident, recent[len(recent)-1].Incident)
	}
	open, err := s.OpenIncidents(ctx)
	if err != nil || len(open) != 150 {
		t.Fatalf("open incidents: %d, %v; want all 150 (the bound is the log's)", len(open), err)
	}

	// By age: an event from before the retention goes at once (counted),
	// and the next write removes what has aged past it.
	writeIncidents(t, s, incident(1000, now.Add(-61*time.Minute)))
	if got := s.IncidentsTrimmed(); got != 51 {
		t.Errorf("an event older than the retention: trimmed counter %d, want 51", got)
	}
	if n := s.rdb.ZCard(ctx, logKey).Val(); n != 100 {
		t.Errorf("log holds %d events after an expired one, want 100", n)
	}
	w := s.NewWrite()
	w.now = now.Add(time.Hour - 100*time.Second) // only the last 100 s of events are within the hour then
	if err := w.AddIncidents(ctx, []Incident{incident(2000, now)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	oldest := s.rdb.ZRangeWithScores(ctx, logKey, 0, 0).Val()
	if len(oldest) != 1 || int64(oldest[0].Score) < now.Add(-100*time.Second).UnixMilli() {
		t.Errorf("oldest event kept at %v, want none before %v", oldest, now.Add(-100*time.Second).UnixMilli())
	}
	if n := s.rdb.ZCard(ctx, logKey).Val(); n != 100 {
		// events 50…149 were at now-100 s … now-1 s: kept by age; with 2000
		// one too many, so the oldest (50) goes by count.
		t.Errorf("log holds %d events, want 100", n)
	}
	if got := s.IncidentsTrimmed(); got != 52 {
		t.Errorf("trimmed counter %d, want 52", got)
	}
}

// TestIncidentLogBytes measures Redis memory per event of the log, for
// docs/redis-schema.md's sizing (open events with 61 samples of context
// and their close events).
func TestIncidentLogBytes(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	now := time.Now()
	const n = 2000
	var incs []Incident
	for i := range n {
		in := incident(i, now.Add(time.Duration(i-n)*time.Second))
		incs = append(incs, in)
		c := in
		c.State, c.Context, c.ContextStart, c.ContextStepMs, c.Time = "closed", nil, 0, 0, in.Time+500
		incs = append(incs, c)
	}
	writeIncidents(t, s, incs...)
	logKey := s.key(incidentTag, "log")
	if got := s.rdb.ZCard(ctx, logKey).Val(); got != 2*n {
		t.Fatalf("log holds %d events, want %d", got, 2*n)
	}
	mem, err := s.rdb.MemoryUsage(ctx, logKey, 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	shut, err := s.rdb.MemoryUsage(ctx, s.key(incidentTag, "shut"), 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RESULT incident_log_bytes_per_event=%.0f closed_key_bytes=%.0f events=%d (open with 61 context samples and close, alternating)", float64(mem)/(2*n), float64(shut)/n, 2*n)
}

// TestIncidentClosedKeysBounded: the closed keys are kept by age like the
// log, so an open replayed after its close does not reopen it while the
// close is kept, an open older than the retention is not opened at all,
// a late close still closes, and the closed SET of older versions is
// still honoured.
func TestIncidentClosedKeysBounded(t *testing.T) {
	s := openStore(t) // incident_log_retention 720h
	ctx := context.Background()
	now := time.Now()
	shut, open := s.key(incidentTag, "shut"), s.key(incidentTag, "open")
	closeOf := func(in Incident, at time.Time) Incident {
		in.State, in.Context, in.Time = "closed", nil, at.UnixMilli()
		return in
	}

	a := incident(1, now.Add(-time.Hour))
	writeIncidents(t, s, a, closeOf(a, now.Add(-50*time.Minute)))
	writeIncidents(t, s, a) // the open again (a redelivered frame)
	if n := s.rdb.HLen(ctx, open).Val(); n != 0 {
		t.Fatalf("an open replayed after its close reopened it: %d open", n)
	}
	if n := s.rdb.ZCard(ctx, shut).Val(); n != 1 {
		t.Fatalf("closed keys: %d, want 1", n)
	}

	old := incident(2, now.Add(-721*time.Hour))
	writeIncidents(t, s, old)
	if n := s.rdb.HLen(ctx, open).Val(); n != 0 {
		t.Fatalf("an open older than the retention was opened: %d open", n)
	}
	// An incident opened within the retention and closed long after: the
	// close is applied even when it arrives late.
	b := incident(3, now.Add(-time.Hour))
	writeIncidents(t, s, b)
	if n := s.rdb.HLen(ctx, open).Val(); n != 1 {
		t.Fatalf("open: %d, want 1", n)
	}
	w := s.NewWrite()
	w.now = now.Add(800 * time.Hour) // the close is older than the retention then
	if err := w.AddIncidents(ctx, []Incident{closeOf(b, now)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.rdb.HLen(ctx, open).Val(); n != 0 {
		t.Fatalf("a late close did not close: %d open", n)
	}
	// The next write 800 h on drops the closed keys older than 720 h.
	w = s.NewWrite()
	w.now = now.Add(800 * time.Hour)
	c := incident(4, now.Add(800*time.Hour))
	if err := w.AddIncidents(ctx, []Incident{c}); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.rdb.ZCard(ctx, shut).Val(); n != 0 {
		t.Fatalf("closed keys older than the retention kept: %d", n)
	}

	// Keys closed before this version are in the closed SET: still honoured.
	d := incident(5, now)
	s.rdb.SAdd(ctx, s.key(incidentTag, "closed"), d.Key())
	writeIncidents(t, s, d)
	if n := s.rdb.HLen(ctx, open).Val(); n != 1 { // c is open
		t.Fatalf("an open closed in the legacy SET was reopened: %d open", n)
	}
}
