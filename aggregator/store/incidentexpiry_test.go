package store

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/testbench/harness"
)

// openStores starts a redis-server and opens one Store on it per
// options (sharing the prefix "t:": several members of one region).
func openStores(t *testing.T, opts ...Options) []*Store {
	t.Helper()
	ctx := context.Background()
	r, err := harness.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	var out []*Store
	for _, o := range opts {
		o.Addr, o.Prefix = r.Addr, "t:"
		s, err := Open(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

func closeOf(in Incident, at time.Time) Incident {
	in.State, in.Context, in.ContextStart, in.ContextStepMs, in.Time = "closed", nil, 0, 0, at.UnixMilli()
	return in
}

// writeAt writes incs with the write's clock at now.
func writeAt(t *testing.T, s *Store, now time.Time, incs ...Incident) {
	t.Helper()
	ctx := context.Background()
	w := s.NewWrite()
	w.now = now
	if err := w.AddIncidents(ctx, incs); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
}

// openKeys is the set of open incident keys, checked against openat.
func openKeys(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	ctx := context.Background()
	open := s.rdb.HKeys(ctx, s.key(incidentTag, "open")).Val()
	at := s.rdb.ZRange(ctx, s.key(incidentTag, "openat"), 0, -1).Val()
	m := map[string]bool{}
	for _, k := range open {
		m[k] = true
	}
	if len(at) != len(open) {
		t.Fatalf("openat holds %d keys, open %d: out of step", len(at), len(open))
	}
	for _, k := range at {
		if !m[k] {
			t.Fatalf("openat holds %s, which is not open", k)
		}
	}
	return m
}

// expiryEvents returns the close events the store wrote for expired
// incidents, by key, from the log.
func expiryEvents(t *testing.T, s *Store) map[string][]Incident {
	t.Helper()
	docs := s.rdb.ZRange(context.Background(), s.key(incidentTag, "log"), 0, -1).Val()
	out := map[string][]Incident{}
	for _, d := range docs {
		var in Incident
		if err := json.Unmarshal([]byte(d), &in); err != nil {
			t.Fatal(err)
		}
		if in.Expired != "" {
			out[in.Key()] = append(out[in.Key()], in)
		}
	}
	return out
}

// TestIncidentExpiryByAge: an open incident whose newest event is older
// than incident_open_max_age is closed as expired (log event with the
// reason, closed key, counted); a younger one, or one with a newer
// event, stays; an open of the version before openat (no score) is
// scored from its document and expired too; a redelivered open does not
// reopen an expired incident.
func TestIncidentExpiryByAge(t *testing.T) {
	s := openStores(t, Options{IncidentOpenMaxAge: time.Hour})[0]
	ctx := context.Background()
	now := time.Now()

	a := incident(1, now.Add(-2*time.Hour))    // idle for 2 h: expires
	b := incident(2, now.Add(-30*time.Minute)) // idle for 30 min: stays
	c := incident(3, now.Add(-3*time.Hour))    // opened 3 h ago, updated 10 min ago: stays
	c2 := c
	c2.Time, c2.Value = now.Add(-10*time.Minute).UnixMilli(), 99
	writeAt(t, s, now, a, b, c, c2)
	// d: open in the layout before openat (only in the open HASH).
	d := incident(4, now.Add(-5*time.Hour))
	doc, _ := json.Marshal(&d)
	s.rdb.HSet(ctx, s.key(incidentTag, "open"), d.Key(), doc)

	got, err := s.ExpireOpenIncidents(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Age != 2 || got.Cap != 0 || got.Open != 2 || len(got.Closed) != 2 {
		t.Fatalf("expiry %+v, want 2 by age (a, d) with their closes, 0 by cap, 2 open", got)
	}
	for _, in := range got.Closed {
		if in.State != "closed" || in.Expired != "age" || (in.Key() != a.Key() && in.Key() != d.Key()) {
			t.Fatalf("close event returned %+v, want a's or d's, closed by age", in)
		}
	}
	if age, cp := s.IncidentsExpired(); age != 2 || cp != 0 {
		t.Errorf("counters age %d cap %d, want 2, 0", age, cp)
	}
	keys := openKeys(t, s)
	if len(keys) != 2 || !keys[b.Key()] || !keys[c.Key()] {
		t.Fatalf("open %v, want b and c", keys)
	}
	open, err := s.OpenIncidents(ctx)
	if err != nil || len(open) != 2 {
		t.Fatalf("OpenIncidents: %d, %v", len(open), err)
	}
	ev := expiryEvents(t, s)
	for _, in := range []Incident{a, d} {
		e := ev[in.Key()]
		if len(e) != 1 || e[0].State != "closed" || e[0].Expired != "age" || e[0].Time != now.UnixMilli() || e[0].Reason == "" || e[0].Context != nil {
			t.Fatalf("expiry events of %s: %+v, want one close marked age at now with a reason", in.Key(), e)
		}
	}
	recent, _, err := s.RecentIncidents(ctx, now.Add(-time.Minute), now.Add(time.Minute), 10)
	if err != nil || len(recent) != 2 || recent[0].Expired != "age" {
		t.Fatalf("recent events %+v, %v: want the two expiry closes", recent, err)
	}
	t.Logf("expiry reason: %s", recent[0].Reason)
	if sc := s.rdb.ZScore(ctx, s.key(incidentTag, "shut"), a.Key()).Val(); int64(sc) != now.UnixMilli() {
		t.Errorf("closed key of a scored %v, want now %d", sc, now.UnixMilli())
	}

	// The open of a delivered again: not reopened, counted.
	writeAt(t, s, now, a)
	if keys := openKeys(t, s); keys[a.Key()] {
		t.Fatal("a redelivered open reopened an expired incident")
	}
	if n := s.IncidentLateEvents(); n != 1 {
		t.Errorf("late events %d, want 1", n)
	}

	// An hour on, b and c (last event 10 min before now) are due too.
	got, err = s.ExpireOpenIncidents(ctx, now.Add(time.Hour))
	if err != nil || got.Age != 2 || got.Open != 0 {
		t.Fatalf("an hour on: %+v, %v; want b and c expired, none open", got, err)
	}
	// An event that arrives between a sweep's read and its script wins:
	// the incident stays open, whichever bound the sweep applies.
	e := incident(5, now.Add(-2*time.Hour))
	writeAt(t, s, now, e)
	cutoff := strconv.FormatInt(now.Add(-time.Hour).UnixMilli(), 10)
	read := s.rdb.ZRangeByScore(ctx, s.key(incidentTag, "openat"), &redis.ZRangeBy{Min: "-inf", Max: cutoff}).Val()
	docs := s.rdb.HMGet(ctx, s.key(incidentTag, "open"), read...).Val()
	e2 := e
	e2.Time = now.UnixMilli()
	writeAt(t, s, now, e2)
	if n, err := runExpiry(ctx, s.conn, read, docs, "age", cutoff, now, nil); err != nil || n != 0 {
		t.Fatalf("an incident updated after the sweep's read: expired %d, %v; want 0", n, err)
	}
	// By the cap (a bound of 0: any open one is over it) only the
	// document read, no longer the open one, keeps it.
	if n, err := runExpiry(ctx, s.conn, read, docs, "cap", "0", now, nil); err != nil || n != 0 {
		t.Fatalf("an incident updated after the sweep's read, by the cap: expired %d, %v; want 0", n, err)
	}
	if !openKeys(t, s)[e.Key()] {
		t.Fatal("an incident updated after the sweep's read was closed")
	}
	s.rdb.HDel(ctx, s.key(incidentTag, "open"), e.Key())
	s.rdb.ZRem(ctx, s.key(incidentTag, "openat"), e.Key())

	// Nothing left to do: a second run changes nothing.
	got, err = s.ExpireOpenIncidents(ctx, now.Add(time.Hour))
	if err != nil || got.Age+got.Cap+got.Open+len(got.Closed) != 0 {
		t.Fatalf("a run with nothing due: %+v, %v", got, err)
	}
}

// TestIncidentExpiryCap: past incident_open_max the oldest open
// incidents are closed as expired, at the write that passes it and by
// the sweep of a member with a lower cap, counted apart from age.
func TestIncidentExpiryCap(t *testing.T) {
	st := openStores(t, Options{IncidentOpenMax: 100}, Options{IncidentOpenMax: 1000})
	capped, wide := st[0], st[1]
	ctx := context.Background()
	now := time.Now()
	var incs []Incident
	for i := range 150 {
		incs = append(incs, incident(i, now.Add(time.Duration(i-150)*time.Second)))
	}
	// Written by the member with cap 100: the write enforces it.
	w := capped.NewWrite()
	if err := w.AddIncidents(ctx, incs); err != nil {
		t.Fatal(err)
	}
	if err := w.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if ex := w.Expired(); len(ex) != 50 || ex[0].Expired != "cap" || ex[0].Key() != incs[0].Key() {
		t.Fatalf("the write's expired closes: %d, want 50 marked cap, the oldest first", len(ex))
	}
	keys := openKeys(t, capped)
	if len(keys) != 100 {
		t.Fatalf("%d open after the write, want 100 (the cap)", len(keys))
	}
	for i, in := range incs {
		if keys[in.Key()] != (i >= 50) {
			t.Fatalf("incident %d open %v: want the newest 100 kept", i, keys[in.Key()])
		}
	}
	if age, cp := capped.IncidentsExpired(); age != 0 || cp != 50 {
		t.Errorf("counters age %d cap %d, want 0, 50", age, cp)
	}
	ev := expiryEvents(t, capped)
	if len(ev) != 50 {
		t.Fatalf("%d incidents with expiry events, want 50", len(ev))
	}
	for k, e := range ev {
		if len(e) != 1 || e[0].Expired != "cap" {
			t.Fatalf("expiry events of %s: %+v, want one marked cap", k, e)
		}
	}

	// The other member (cap 1000) writes 150 more: no expiry on its
	// write; the capped member's sweep brings it back to 100.
	incs = incs[:0]
	for i := range 150 {
		incs = append(incs, incident(1000+i, now.Add(time.Duration(i)*time.Millisecond)))
	}
	writeAt(t, wide, now, incs...)
	if n := len(openKeys(t, wide)); n != 250 {
		t.Fatalf("%d open, want 250", n)
	}
	got, err := capped.ExpireOpenIncidents(ctx, now)
	if err != nil || got.Cap != 150 || got.Age != 0 || got.Open != 100 {
		t.Fatalf("sweep %+v, %v; want 150 by cap, 100 open", got, err)
	}
	keys = openKeys(t, capped)
	for _, in := range incs[50:] {
		if !keys[in.Key()] {
			t.Fatalf("%s expired; the newest 100 should stay", in.Key())
		}
	}

	// A member that read the count before another expired some hands the
	// script more candidates than are over the cap: it expires only down
	// to the cap (checked in the script, not by the count it read).
	incs = incs[:0]
	for i := range 30 {
		incs = append(incs, incident(2000+i, now.Add(time.Duration(i)*time.Second)))
	}
	writeAt(t, wide, now, incs...)
	stale := capped.rdb.ZRange(ctx, capped.key(incidentTag, "openat"), 0, 59).Val()
	n, err := expireKeys(ctx, capped.conn, stale, "cap", "100", now, nil)
	if err != nil || n != 30 {
		t.Fatalf("60 candidates with 130 open and a cap of 100: expired %d, %v; want 30", n, err)
	}
	if n := len(openKeys(t, capped)); n != 100 {
		t.Fatalf("%d open, want 100", n)
	}
}

// TestIncidentLateCloseAfterExpiry: the agent's close of an incident the
// store expired does not reopen it nor fail; it is logged, counted, and
// the closed key keeps the later of the two times.
func TestIncidentLateCloseAfterExpiry(t *testing.T) {
	s := openStores(t, Options{IncidentOpenMaxAge: time.Hour})[0]
	ctx := context.Background()
	now := time.Now()
	a := incident(1, now.Add(-3*time.Hour))
	writeAt(t, s, now.Add(-3*time.Hour), a)
	if got, err := s.ExpireOpenIncidents(ctx, now.Add(-time.Hour)); err != nil || got.Age != 1 {
		t.Fatalf("expiry %+v, %v", got, err)
	}
	expiredAt := now.Add(-time.Hour).UnixMilli()

	// The close, from before the expiry, arrives now; then again (redelivered).
	cl := closeOf(a, now.Add(-150*time.Minute))
	writeAt(t, s, now, cl)
	writeAt(t, s, now, cl)
	if n := len(openKeys(t, s)); n != 0 {
		t.Fatalf("%d open after a late close, want 0", n)
	}
	if n := s.IncidentLateEvents(); n != 2 {
		t.Errorf("late events %d, want 2 (the close and its redelivery)", n)
	}
	if sc := s.rdb.ZScore(ctx, s.key(incidentTag, "shut"), a.Key()).Val(); int64(sc) != expiredAt {
		t.Errorf("closed key scored %v, want the expiry's %d (the later)", int64(sc), expiredAt)
	}
	recent, _, err := s.RecentIncidents(ctx, now.Add(-4*time.Hour), now, 10)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, in := range recent {
		states = append(states, in.State+"/"+in.Expired)
	}
	if len(recent) != 3 || states[0] != "closed/age" || states[1] != "closed/" || states[2] != "open/" {
		t.Fatalf("log %v, want the open, the agent's close and the expiry (once each)", states)
	}
	// The expired incident's open once more: still closed.
	writeAt(t, s, now, a)
	if n := len(openKeys(t, s)); n != 0 {
		t.Fatalf("%d open after a redelivered open, want 0", n)
	}
	if age, _ := s.IncidentsExpired(); age != 1 {
		t.Errorf("expired %d, want 1", age)
	}
}

// TestIncidentExpiryConcurrent: two members sweep at once while agents'
// closes of some due incidents arrive: every incident ends either open
// or closed once (by the agent or by one expiry, never both sweepers),
// the cap holds exactly, and the counts add up.
func TestIncidentExpiryConcurrent(t *testing.T) {
	o := Options{IncidentOpenMaxAge: time.Hour, IncidentOpenMax: 100}
	st := openStores(t, o, o, Options{IncidentOpenMaxAge: time.Hour, IncidentOpenMax: 1_000_000})
	ctx := context.Background()
	now := time.Now()
	const n = 1500
	var aged, fresh []Incident
	for i := range n {
		aged = append(aged, incident(i, now.Add(-2*time.Hour+time.Duration(i)*time.Second)))
		fresh = append(fresh, incident(10_000+i, now.Add(-30*time.Minute+time.Duration(i)*time.Second)))
	}
	writeAt(t, st[2], now, append(append([]Incident{}, aged...), fresh...)...)

	var wg sync.WaitGroup
	res := make([]OpenExpiry, 2)
	errs := make(chan error, 3)
	for i := range 2 {
		wg.Go(func() {
			r, err := st[i].ExpireOpenIncidents(ctx, now)
			res[i] = r
			errs <- err
		})
	}
	wg.Go(func() { // the agents close every third aged incident meanwhile
		for i := 0; i < len(aged); i += 3 {
			w := st[2].NewWrite()
			w.now = now
			if err := w.AddIncidents(ctx, []Incident{closeOf(aged[i], now.Add(-time.Minute))}); err != nil {
				errs <- err
				return
			}
			if err := w.Exec(ctx); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A sweep after: the closes may have won some; nothing is left due.
	last, err := st[0].ExpireOpenIncidents(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	keys := openKeys(t, st[0])
	if len(keys) != 100 {
		t.Fatalf("%d open, want 100 (the cap)", len(keys))
	}
	for _, in := range fresh[n-100:] {
		if !keys[in.Key()] {
			t.Fatalf("%s expired, want the newest 100 open", in.Key())
		}
	}
	ev := expiryEvents(t, st[0])
	expired := 0
	for k, e := range ev {
		if len(e) != 1 {
			t.Fatalf("%s expired %d times", k, len(e))
		}
		expired++
	}
	// Which bound took an aged incident depends on which member got there
	// first (past the cap the oldest go, aged or not); the sum does not.
	sum := res[0].Age + res[1].Age + last.Age + res[0].Cap + res[1].Cap + last.Cap
	if expired != sum {
		t.Fatalf("%d expiry events; the sweeps said %d (%+v %+v %+v)", expired, sum, res[0], res[1], last)
	}
	// Every incident but the newest 100 was closed once: by its agent
	// (every third aged one; the late ones counted) or by an expiry.
	shut := s2set(st[0].rdb.ZRange(ctx, st[0].key(incidentTag, "shut"), 0, -1).Val())
	byAgent := 0
	for i, in := range append(append([]Incident{}, aged...), fresh[:n-100]...) {
		if !shut[in.Key()] {
			t.Fatalf("incident %s not closed", in.Key())
		}
		if i < n && i%3 == 0 {
			byAgent++
		}
	}
	var late uint64
	for _, s := range st {
		late += s.IncidentLateEvents()
	}
	if expired+byAgent-int(late) != 2*n-100 {
		t.Fatalf("%d expired + %d closed by agents - %d late closes = %d, want %d", expired, byAgent, late, expired+byAgent-int(late), 2*n-100)
	}
	t.Logf("expired %d (sweeps %+v %+v %+v), closes by agents %d of which late %d", expired, res[0], res[1], last, byAgent, late)
}

func s2set(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// TestIncidentOpenBytes measures Redis memory per open incident ({inc}open
// and its {inc}openat entry, an open event with 61 samples of context)
// and per expired key ({inc}expired), for docs/redis-schema.md's sizing.
func TestIncidentOpenBytes(t *testing.T) {
	s := openStores(t, Options{IncidentOpenMaxAge: time.Hour})[0]
	ctx := context.Background()
	now := time.Now()
	const n = 2000
	var incs []Incident
	for i := range n {
		incs = append(incs, incident(i, now.Add(time.Duration(i-n)*time.Second)))
	}
	writeAt(t, s, now, incs...)
	mem := func(k string) int64 {
		m, err := s.rdb.MemoryUsage(ctx, s.key(incidentTag, k), 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	open, at := mem("open"), mem("openat")
	if got, err := s.ExpireOpenIncidents(ctx, now.Add(2*time.Hour)); err != nil || got.Age != n {
		t.Fatalf("expiry %+v, %v", got, err)
	}
	exp := mem("expired")
	t.Logf("RESULT incident_open_bytes=%.0f open_hash_bytes=%.0f openat_bytes=%.0f expired_key_bytes=%.0f incidents=%d (open with 61 context samples)",
		float64(open+at)/n, float64(open)/n, float64(at)/n, float64(exp)/n, n)
}

// BenchmarkExpireOpenIncidents measures one run of the expiry over
// 10,000 open incidents (the default cap): "idle", nothing due (what
// every member does every 30 s), against a PING round trip in the same
// run; "due", all 10,000 expired by age (per incident).
func BenchmarkExpireOpenIncidents(b *testing.B) {
	ctx := context.Background()
	r, err := harness.StartRedis(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Stop)
	s, err := Open(ctx, Options{Addr: r.Addr, Prefix: "t:", IncidentOpenMaxAge: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now()
	const n = 10_000
	fill := func() {
		w := s.NewWrite()
		var incs []Incident
		for i := range n {
			incs = append(incs, incident(i, now.Add(-time.Duration(n-i)*time.Millisecond)))
		}
		if err := w.AddIncidents(ctx, incs); err != nil {
			b.Fatal(err)
		}
		if err := w.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	fill()
	b.Run("ping", func(b *testing.B) {
		for b.Loop() {
			s.rdb.Ping(ctx)
		}
	})
	b.Run("idle", func(b *testing.B) {
		for b.Loop() {
			if got, err := s.ExpireOpenIncidents(ctx, now); err != nil || got.Age+got.Cap != 0 {
				b.Fatal(got, err)
			}
		}
	})
	b.Run("due", func(b *testing.B) {
		b.StopTimer()
		for i := 0; i < b.N; i++ {
			s.rdb.Del(ctx, s.key(incidentTag, "shut"), s.key(incidentTag, "expired"))
			fill()
			s.rdb.ConfigResetStat(ctx)
			b.StartTimer()
			got, err := s.ExpireOpenIncidents(ctx, now.Add(2*time.Hour))
			b.StopTimer()
			if err != nil || got.Age != n {
				b.Fatal(got.Age, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/incident")
		// The Redis time of the last run's scripts (each blocks Redis for
		// its duration): cmdstat_eval's usec per call, one per batch.
		info := s.rdb.Info(ctx, "commandstats").Val()
		if i := strings.Index(info, "cmdstat_eval:"); i >= 0 {
			line := info[i:]
			line = line[:strings.IndexByte(line, '\r')]
			b.Logf("RESULT expire_eval=%q batch=%d", line, expireBatch)
		}
	})
}
