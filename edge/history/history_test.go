package history

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/queue"
)

func openDB(t testing.TB, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithMemTableSize(4 << 20).
		WithValueLogFileSize(16 << 20).WithValueThreshold(256 << 10))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// testSeries are three series: two node_cpu_seconds_total (cpu 0 and 1)
// and node_load1.
var testSeries = map[uint32][2]any{
	0: {"node_cpu_seconds_total", []string{"cpu", "0", "mode", "idle"}},
	1: {"node_cpu_seconds_total", []string{"cpu", "1", "mode", "idle"}},
	2: {"node_load1", []string(nil)},
}

func testNamer(id uint32) (string, []string, bool) {
	if id >= 1000 {
		return "node_big", []string{"i", strconv.Itoa(int(id))}, true
	}
	s, ok := testSeries[id]
	if !ok {
		return "", nil, false
	}
	return s[0].(string), s[1].([]string), true
}

// feed appends one sample per series per second in [from, to).
func feed(h *History, from, to time.Time) {
	for t := from; t.Before(to); t = t.Add(time.Second) {
		ms := t.UnixMilli()
		h.Append([]queue.Sample{
			{Series: 0, TS: ms, Value: float64(ms / 1000)},
			{Series: 1, TS: ms, Value: float64(ms/1000) / 2},
			{Series: 2, TS: ms, Value: 0.25 + float64(ms%7000)/7000},
			{Series: 99, TS: ms, Value: 1}, // unknown to the namer: ignored
		})
	}
}

func newHistory(t testing.TB, db *badger.DB, o Options) *History {
	t.Helper()
	h, err := New(db, o, testNamer, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestQuery(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	h := newHistory(t, db, Options{})
	now := time.Now()
	t0 := now.Truncate(time.Minute).Add(-5 * time.Minute)
	h.cutoff = t0.UnixMilli() // as if it had been running since t0
	feed(h, t0, now)
	if err := h.Flush(now, false); err != nil {
		t.Fatal(err)
	}
	st := h.Stats()
	if st.Minutes < 4 || st.Blocks < 12 || st.Buffered == 0 {
		t.Fatalf("after flush: %+v, want ≥ 4 minutes and ≥ 12 blocks written and the current minute buffered", st)
	}
	want := int(now.Sub(t0)/time.Second) + 1
	if now.Truncate(time.Second).Equal(now) {
		want--
	}
	cases := []struct {
		name    string
		req     codec.HistoryRequest
		series  int
		points  int // per series; -1: don't check
		trunc   bool
		wantErr error
	}{
		{"all cpus", codec.HistoryRequest{Name: "node_cpu_seconds_total", Start: t0.UnixMilli()}, 2, -1, false, nil},
		{"one cpu", codec.HistoryRequest{Name: "node_cpu_seconds_total", Matchers: map[string]string{"cpu": "1"}, Start: t0.UnixMilli()}, 1, -1, false, nil},
		{"two minutes across the flush", codec.HistoryRequest{Name: "node_load1", Start: t0.Add(3 * time.Minute).UnixMilli(), End: t0.Add(5*time.Minute - time.Second).UnixMilli()}, 1, 120, false, nil},
		{"limit truncates", codec.HistoryRequest{Name: "node_load1", Start: t0.UnixMilli(), Limit: 10}, 1, 10, true, nil},
		{"no name", codec.HistoryRequest{}, 0, 0, false, ErrBadRequest},
		{"start after end", codec.HistoryRequest{Name: "node_load1", Start: 2, End: 1}, 0, 0, false, ErrBadRequest},
		{"negative limit", codec.HistoryRequest{Name: "node_load1", Limit: -1}, 0, 0, false, ErrBadRequest},
		{"limit over max_points is lowered", codec.HistoryRequest{Name: "node_load1", Start: t0.UnixMilli(), Limit: DefaultMaxPoints + 1}, 1, -1, false, nil},
		{"unknown series", codec.HistoryRequest{Name: "node_nope"}, 0, 0, false, ErrNotFound},
		{"unmatched label", codec.HistoryRequest{Name: "node_cpu_seconds_total", Matchers: map[string]string{"cpu": "7"}}, 0, 0, false, ErrNotFound},
		{"name prefix is not a match", codec.HistoryRequest{Name: "node_load"}, 0, 0, false, ErrNotFound},
		{"out of range", codec.HistoryRequest{Name: "node_load1", Start: t0.Add(-time.Hour).UnixMilli(), End: t0.Add(-time.Minute).UnixMilli()}, 0, 0, false, ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := h.Query(c.req, now)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Query = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Series) != c.series || resp.Truncated != c.trunc {
				t.Fatalf("%d series, truncated %v; want %d, %v", len(resp.Series), resp.Truncated, c.series, c.trunc)
			}
			for _, s := range resp.Series {
				n := c.points
				if n < 0 {
					n = want
				}
				if len(s.Points) != n {
					t.Errorf("%s%v: %d points, want %d", s.Name, s.Labels, len(s.Points), n)
				}
				for i, p := range s.Points {
					if i > 0 && p.TS != s.Points[i-1].TS+1000 {
						t.Fatalf("point %d at %d follows %d: want one per second in order", i, p.TS, s.Points[i-1].TS)
					}
					if s.Name == "node_cpu_seconds_total" {
						wantV := float64(p.TS / 1000)
						if s.Labels["cpu"] == "1" {
							wantV /= 2
						}
						if p.Value != wantV {
							t.Fatalf("%v at %d = %v, want %v", s.Labels, p.TS, p.Value, wantV)
						}
					}
				}
			}
		})
	}
}

// TestRestartMerges stops a history mid-minute (Close writes the partial
// minute) and starts another on the same database in the same minute: the
// minute then holds the samples of both runs, and the stored sizes are
// read back.
func TestRestartMerges(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	now := time.Now()
	m := now.Truncate(time.Minute)
	h := newHistory(t, db, Options{})
	feed(h, m, m.Add(20*time.Second))
	if err := h.Flush(m.Add(20*time.Second), true); err != nil {
		t.Fatal(err)
	}
	before := h.Stats()
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	h2 := newHistory(t, db, Options{})
	if st := h2.Stats(); st.Bytes != before.Bytes || st.Minutes != before.Minutes {
		t.Fatalf("reopened: %d bytes in %d minutes, want %d in %d", st.Bytes, st.Minutes, before.Bytes, before.Minutes)
	}
	h2.start = m.Unix() / 60 // the restart happens within the same minute
	h2.cutoff = m.Add(20 * time.Second).UnixMilli()
	feed(h2, m.Add(20*time.Second), m.Add(40*time.Second))
	if err := h2.Flush(m.Add(time.Minute+5*time.Second), false); err != nil {
		t.Fatal(err)
	}
	resp, err := h2.Query(codec.HistoryRequest{Name: "node_load1", Start: m.UnixMilli(), End: m.Add(time.Minute).UnixMilli()}, now)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Series[0].Points); n != 40 {
		t.Fatalf("%d points after the restart, want 40 (20 from each run)", n)
	}
}

func TestBounds(t *testing.T) {
	cases := []struct {
		name                  string
		opts                  Options
		wantExpired, wantDrop bool
	}{
		{"retention", Options{Retention: 10 * time.Minute}, true, false},
		{"bytes", Options{MaxBytes: 1 << 20}, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := openDB(t, t.TempDir())
			defer db.Close()
			h := newHistory(t, db, c.opts)
			// 40 minutes of three series, one flush per minute, as the agent does.
			now := time.Now().Truncate(time.Minute)
			from := now.Add(-40 * time.Minute)
			h.cutoff = from.UnixMilli()
			big := make([]queue.Sample, 0, 2000)
			for m := from; m.Before(now); m = m.Add(time.Minute) {
				for s := m; s.Before(m.Add(time.Minute)); s = s.Add(time.Second) {
					feed(h, s, s.Add(time.Second))
					if c.wantDrop { // many distinct series so the byte bound bites
						big = big[:0]
						for id := range uint32(300) {
							big = append(big, queue.Sample{Series: 1000 + id, TS: s.UnixMilli(), Value: float64(s.UnixNano()%997) * 1.1})
						}
						h.Append(big)
					}
				}
				if err := h.Flush(m.Add(time.Minute+3*time.Second), false); err != nil {
					t.Fatal(err)
				}
			}
			st := h.Stats()
			t.Logf("%+v", st)
			if got := st.ExpiredMinutes > 0; got != c.wantExpired {
				t.Errorf("expired minutes %d, want some: %v", st.ExpiredMinutes, c.wantExpired)
			}
			if got := st.DroppedMinutes > 0; got != c.wantDrop {
				t.Errorf("dropped minutes %d, want some: %v", st.DroppedMinutes, c.wantDrop)
			}
			if st.Bytes > h.opts.MaxBytes {
				t.Errorf("holding %d bytes, over max_bytes %d", st.Bytes, h.opts.MaxBytes)
			}
			if c.wantExpired && st.Minutes > 11 {
				t.Errorf("holding %d minutes with 10m retention", st.Minutes)
			}
			// The oldest minute is gone from the database too.
			_, err := h.Query(codec.HistoryRequest{Name: "node_load1", Start: from.UnixMilli(), End: from.Add(time.Minute - 1).UnixMilli()}, now.Add(3*time.Second))
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("query of the oldest minute = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, ""},
		{Options{Retention: time.Second}, "retention"},
		{Options{Retention: 1000 * time.Hour}, "retention"},
		{Options{MaxBytes: 1000}, "max_bytes"},
		{Options{MaxPoints: -1}, "max_points"},
	} {
		err := c.o.Validate()
		if (err == nil) != (c.want == "") || err != nil && !contains(err.Error(), c.want) {
			t.Errorf("%+v: Validate() = %v, want an error naming %q", c.o, err, c.want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
