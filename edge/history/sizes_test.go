package history

import (
	"encoding/binary"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgepulse/edgepulse/edge/queue"
)

// bigSeries is how many node_big series writeMinutes adds to the three
// test series.
const bigSeries = 50

// writeMinutes runs h from minute from for n minutes, one sample per
// series per second and one flush per minute, as the agent does.
func writeMinutes(t testing.TB, h *History, from time.Time, n int) {
	t.Helper()
	h.cutoff = from.UnixMilli() // as if it had been running since from
	batch := make([]queue.Sample, 0, bigSeries)
	for m := from; m.Before(from.Add(time.Duration(n) * time.Minute)); m = m.Add(time.Minute) {
		for s := m; s.Before(m.Add(time.Minute)); s = s.Add(time.Second) {
			feed(h, s, s.Add(time.Second))
			batch = batch[:0]
			for id := range uint32(bigSeries) {
				batch = append(batch, queue.Sample{Series: 1000 + id, TS: s.UnixMilli(), Value: float64(s.Unix()%97) + float64(id)})
			}
			h.Append(batch)
		}
		if err := h.Flush(m.Add(time.Minute+3*time.Second), false); err != nil {
			t.Fatal(err)
		}
	}
}

// scanSizes is the reference: every minute's bytes counted from its blocks.
func scanSizes(t testing.TB, db *badger.DB) map[int64]int64 {
	t.Helper()
	got := map[int64]int64{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{'h'}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			got[int64(binary.BigEndian.Uint64(k[1:9]))] += int64(len(k)) + it.Item().ValueSize()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// storedSizes reads the size keys as they are in the database.
func storedSizes(t testing.TB, db *badger.DB) map[int64]int64 {
	t.Helper()
	got := map[int64]int64{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{'s'}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			n, _ := binary.Uvarint(v)
			got[int64(binary.BigEndian.Uint64(k[1:9]))] = int64(n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sum(m map[int64]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

// checkSizes fails unless h's sizes, its stats and the size keys in the
// database all equal a full scan of the blocks.
func checkSizes(t *testing.T, h *History, db *badger.DB) {
	t.Helper()
	want := scanSizes(t, db)
	if len(want) == 0 {
		t.Fatal("no blocks stored: the test wrote nothing")
	}
	if !maps.Equal(h.minutes, want) {
		t.Errorf("sizes after open differ from a full scan:\n got %v\nwant %v", h.minutes, want)
	}
	if st := h.Stats(); st.Bytes != sum(want) || st.Minutes != len(want) {
		t.Errorf("stats: %d bytes in %d minutes, want %d in %d", st.Bytes, st.Minutes, sum(want), len(want))
	}
	if got := storedSizes(t, db); !maps.Equal(got, want) {
		t.Errorf("size keys differ from a full scan:\n got %v\nwant %v", got, want)
	}
}

func reopen(t *testing.T, dir string, db *badger.DB, h *History, o Options) (*badger.DB, *History) {
	t.Helper()
	if h != nil {
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openDB(t, dir)
	t.Cleanup(func() { db.Close() })
	return db, newHistory(t, db, o)
}

// TestSizesReopen: after a clean stop, a reopen takes every minute's size
// from its size key and reads the blocks of the newest minute only. It
// fails if New reads every block again: by its own count, and by the
// table blocks Badger had to load (block cache misses) compared with
// a full scan's on the same cold database.
func TestSizesReopen(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	h := newHistory(t, db, Options{})
	const minutes = 90
	from := time.Now().Truncate(time.Minute).Add(-minutes * time.Minute)
	writeMinutes(t, h, from, minutes)
	before := h.Stats()
	checkSizes(t, h, db)

	db, h = reopen(t, dir, db, h, Options{})
	checkSizes(t, h, db)
	if st := h.Stats(); st.Bytes != before.Bytes || st.Minutes != before.Minutes {
		t.Errorf("reopened: %d bytes in %d minutes, want %d in %d", st.Bytes, st.Minutes, before.Bytes, before.Minutes)
	}
	perMinute := len(testSeries) + bigSeries
	if h.opened.fullScan || h.opened.blocksRead > perMinute || h.opened.sizeKeys != minutes {
		t.Errorf("open read %d size keys and %d blocks (full scan %v); want %d size keys and at most one minute's %d blocks (of %d)",
			h.opened.sizeKeys, h.opened.blocksRead, h.opened.fullScan, minutes, perMinute, before.Blocks)
	}

	// Badger's own count: table blocks loaded by New on a cold database
	// against those a full scan loads.
	misses := func(open func(db *badger.DB)) uint64 {
		db.Close()
		db = openDB(t, dir)
		defer db.Close()
		m := db.BlockCacheMetrics()
		if m == nil {
			t.Fatal("Badger block cache metrics are off: cannot count the blocks read")
		}
		open(db)
		return db.BlockCacheMetrics().Misses()
	}
	h.Close()
	newMisses := misses(func(db *badger.DB) { newHistory(t, db, Options{}) })
	scanMisses := misses(func(db *badger.DB) { scanSizes(t, db) })
	t.Logf("table blocks loaded: New %d, full scan %d", newMisses, scanMisses)
	if scanMisses < 20 || newMisses*5 > scanMisses {
		t.Errorf("New loaded %d table blocks, a full scan %d: want New below a fifth (and the scan ≥ 20 to mean anything)", newMisses, scanMisses)
	}
	db = openDB(t, dir) // for the cleanup's Close
}

// writeRawBlock writes one block with the history's key layout and no
// size key, as a crash between a flush's transactions leaves it.
func writeRawBlock(t *testing.T, db *badger.DB, minute int64, series uint32, n int) {
	t.Helper()
	name, labels, _ := testNamer(series)
	ts := make([]int64, n)
	vs := make([]float64, n)
	for i := range ts {
		ts[i] = minute*60000 + int64(i)*1000
		vs[i] = float64(i)
	}
	key := blockKey(nil, minute, SeriesKey(nil, name, labels))
	if err := db.Update(func(txn *badger.Txn) error {
		return txn.Set(key, appendBlock(nil, minute*60000, ts, vs))
	}); err != nil {
		t.Fatal(err)
	}
}

func setSizeKey(t *testing.T, db *badger.DB, minute int64, v []byte) {
	t.Helper()
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set(sizeKey(minute), v) }); err != nil {
		t.Fatal(err)
	}
}

// TestSizesAfterCrash: the states a crash inside a flush's WriteBatch can
// leave (blocks committed, their size key not; a stale size key), plus an
// unreadable size key, are recounted exactly at the next open.
func TestSizesAfterCrash(t *testing.T) {
	cases := []struct {
		name  string
		crash func(t *testing.T, db *badger.DB, newest int64)
	}{
		{"blocks of newer minutes without size keys", func(t *testing.T, db *badger.DB, newest int64) {
			writeRawBlock(t, db, newest+1, 0, 60)
			writeRawBlock(t, db, newest+1, 2, 60)
			writeRawBlock(t, db, newest+2, 1, 7)
		}},
		{"newest minute's size key stale", func(t *testing.T, db *badger.DB, newest int64) {
			writeRawBlock(t, db, newest, 1001, 60) // a block its size key does not count
			setSizeKey(t, db, newest, sizeValue(12))
		}},
		{"size key of a newer minute without blocks", func(t *testing.T, db *badger.DB, newest int64) {
			setSizeKey(t, db, newest+3, sizeValue(5000))
		}},
		{"unreadable size key of an old minute", func(t *testing.T, db *badger.DB, newest int64) {
			setSizeKey(t, db, newest-10, []byte{0xff, 0xff})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openDB(t, dir)
			h := newHistory(t, db, Options{})
			from := time.Now().Truncate(time.Minute).Add(-20 * time.Minute)
			writeMinutes(t, h, from, 15)
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			newest := from.Unix()/60 + 14
			if _, ok := h.minutes[newest]; !ok {
				t.Fatalf("minute %d not written", newest)
			}
			c.crash(t, db, newest)
			if maps.Equal(storedSizes(t, db), scanSizes(t, db)) {
				t.Fatal("the simulated crash left the size keys right: nothing to recover")
			}
			db, h = reopen(t, dir, db, nil, Options{})
			checkSizes(t, h, db)
			if h.opened.fullScan {
				t.Error("recovering the newest minutes scanned the whole history")
			}
		})
	}
}

// TestSizesUpgrade: a history an older agent wrote has no size keys; the
// first open reads every block once and writes them, the next one reads
// the size keys.
func TestSizesUpgrade(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	h := newHistory(t, db, Options{})
	writeMinutes(t, h, time.Now().Truncate(time.Minute).Add(-30*time.Minute), 25)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.DropPrefix([]byte{sizePrefix}); err != nil { // as an older agent left it
		t.Fatal(err)
	}
	if len(storedSizes(t, db)) != 0 {
		t.Fatal("size keys left")
	}
	db, h = reopen(t, dir, db, nil, Options{})
	checkSizes(t, h, db)
	if !h.opened.fullScan || h.opened.blocksRead != int(h.Stats().Minutes*(len(testSeries)+bigSeries)) {
		t.Errorf("upgrade: full scan %v, %d blocks read; want a full scan of %d minutes", h.opened.fullScan, h.opened.blocksRead, h.Stats().Minutes)
	}
	db, h = reopen(t, dir, db, h, Options{})
	checkSizes(t, h, db)
	if h.opened.fullScan || h.opened.blocksRead > len(testSeries)+bigSeries {
		t.Errorf("second open after the upgrade: full scan %v, %d blocks read", h.opened.fullScan, h.opened.blocksRead)
	}
}

// TestSizeKeyWithoutBlocks: a crash inside deleteMinute can leave a size
// key whose blocks are gone; the minute is still the oldest, and the
// next enforce deletes its size key (by retention or by the byte bound).
func TestSizeKeyWithoutBlocks(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		orphan  func(oldest int64, now time.Time) int64
		size    int64
		expired bool
	}{
		{"past retention", Options{Retention: time.Hour}, func(_ int64, now time.Time) int64 { return now.Add(-2*time.Hour).Unix() / 60 }, 4000, true},
		{"over the byte bound", Options{MaxBytes: 1 << 20}, func(oldest int64, _ time.Time) int64 { return oldest - 1 }, 1 << 20, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openDB(t, dir)
			h := newHistory(t, db, c.opts)
			now := time.Now()
			from := now.Truncate(time.Minute).Add(-12 * time.Minute)
			writeMinutes(t, h, from, 10)
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
			kept := h.Stats()
			orphan := c.orphan(from.Unix()/60, now)
			setSizeKey(t, db, orphan, sizeValue(c.size))
			if _, ok := storedSizes(t, db)[orphan]; !ok {
				t.Fatal("orphan size key not written")
			}
			db, h = reopen(t, dir, db, nil, c.opts)
			if _, ok := storedSizes(t, db)[orphan]; ok {
				t.Errorf("size key of minute %d (no blocks) still stored after open", orphan)
			}
			st := h.Stats()
			if _, ok := h.minutes[orphan]; ok || st.Minutes != kept.Minutes || st.Bytes != kept.Bytes {
				t.Errorf("after open: %d minutes, %d bytes (orphan held: %v); want the %d minutes and %d bytes written", st.Minutes, st.Bytes, ok, kept.Minutes, kept.Bytes)
			}
			if c.expired && st.ExpiredMinutes != 1 || !c.expired && st.DroppedMinutes != 1 {
				t.Errorf("expired %d, dropped %d: want the orphan counted once", st.ExpiredMinutes, st.DroppedMinutes)
			}
			checkSizes(t, h, db)
		})
	}
}

// TestDeleteMinuteDeletesSizeKey: minutes going by retention take their
// size keys with them.
func TestDeleteMinuteDeletesSizeKey(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	h, err := New(db, Options{Retention: 10 * time.Minute}, testNamer, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	writeMinutes(t, h, time.Now().Truncate(time.Minute).Add(-30*time.Minute), 30)
	if st := h.Stats(); st.ExpiredMinutes < 15 {
		t.Fatalf("%d minutes expired, want ≥ 15", st.ExpiredMinutes)
	}
	checkSizes(t, h, db)
}
