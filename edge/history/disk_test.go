package history

import (
	"testing"
	"time"
)

// TestNoRoomDropsAndShrinks: with room, minutes are written; once the
// free-space check says no, the buffered minute is dropped and counted,
// the oldest stored minute is deleted, and writing resumes with room.
func TestNoRoomDropsAndShrinks(t *testing.T) {
	db := openDB(t, t.TempDir())
	defer db.Close()
	h := newHistory(t, db, Options{})
	room := true
	h.SetRoom(func(int64) (bool, error) { return room, nil })
	t0 := time.Now().Truncate(time.Minute) // the history takes samples from the current minute on
	feed(h, t0, t0.Add(3*time.Minute))
	if err := h.Flush(t0.Add(3*time.Minute+3*time.Second), false); err != nil {
		t.Fatal(err)
	}
	st := h.Stats()
	if st.Minutes != 3 || st.DiskDropped != 0 {
		t.Fatalf("with room: %+v, want 3 minutes and nothing dropped", st)
	}
	room = false
	feed(h, t0.Add(3*time.Minute), t0.Add(4*time.Minute))
	if err := h.Flush(t0.Add(4*time.Minute+3*time.Second), false); err != nil {
		t.Fatal(err)
	}
	st = h.Stats()
	if st.DiskDropped != 3*60 || st.Minutes != 2 || st.DroppedMinutes != 1 || st.Buffered != 0 {
		t.Fatalf("without room: %+v, want 180 samples dropped, the oldest of 3 minutes deleted", st)
	}
	room = true
	feed(h, t0.Add(4*time.Minute), t0.Add(5*time.Minute))
	if err := h.Flush(t0.Add(5*time.Minute+3*time.Second), false); err != nil {
		t.Fatal(err)
	}
	if st = h.Stats(); st.Minutes != 3 || st.DiskDropped != 180 {
		t.Fatalf("room again: %+v, want the new minute written", st)
	}
}
