package history

import "slices"

// Room reports whether the history may write n more bytes to its file
// system. The agent passes the spool's check with a reserve above the
// spool's own, so that on a filling disk the raw history stops (and
// shrinks) before the spool has to refuse a window.
type Room func(n int64) (bool, error)

// SetRoom installs the free-space check Flush consults; nil (the
// default) writes regardless.
func (h *History) SetRoom(r Room) {
	h.mu.Lock()
	h.room = r
	h.mu.Unlock()
}

// estBytesPerSample is a high estimate of a stored sample (block.go: 2–4
// bytes, keys on top), for the free-space check before a flush.
const estBytesPerSample = 8

// roomLocked reports whether a flush of the buffered samples fits. When it
// does not, it drops the samples before cut (counted in DiskDropped), and
// deletes the oldest stored minute so that compaction can give space back
// to the spool; the first refusal after a success is logged.
func (h *History) roomLocked(cut int64) bool {
	if h.room == nil {
		return true
	}
	ok, err := h.room(int64(h.st.Buffered) * estBytesPerSample)
	if err != nil {
		h.log.Warn("history: cannot read free disk space; writing anyway", "err", err)
		return true
	}
	if ok {
		if h.diskFull {
			h.log.Info("history: disk has room again; writing raw history", "dropped_samples", h.st.DiskDropped)
			h.diskFull = false
		}
		return true
	}
	dropped := 0
	for _, b := range h.bufs {
		if b == nil {
			continue
		}
		i := 0
		for i < len(b.ts) && b.ts[i] < cut {
			i++
		}
		dropped += i
		b.ts = b.ts[:copy(b.ts, b.ts[i:])]
		b.vs = b.vs[:copy(b.vs, b.vs[i:])]
	}
	h.st.Buffered -= dropped
	h.st.DiskDropped += uint64(dropped)
	h.cutoff = max(h.cutoff, minuteFloor(cut))
	if !h.diskFull {
		h.log.Warn("history: disk is near its reserve; not writing raw history and dropping its oldest minutes (the spool keeps the windows)",
			"dropped_samples", dropped, "minutes_held", len(h.minutes))
		h.diskFull = true
	}
	if len(h.minutes) > 0 {
		ms := make([]int64, 0, len(h.minutes))
		for m := range h.minutes {
			ms = append(ms, m)
		}
		m := slices.Min(ms)
		if err := h.deleteMinute(m); err != nil {
			h.st.Errors++
		} else {
			b := h.minutes[m]
			delete(h.minutes, m)
			h.st.Minutes--
			h.st.Bytes -= b
			h.st.DroppedMinutes++
			h.st.DroppedBytes += b
		}
	}
	return false
}

// warnLocked logs once when the stored bytes reach 80 % of MaxBytes (from
// then on the oldest minutes go first), again after they fell below 70 %.
func (h *History) warnLocked() {
	switch {
	case !h.warned && h.st.Bytes*10 >= h.opts.MaxBytes*8:
		h.warned = true
		h.log.Warn("history at 80% of max_bytes; the oldest minutes go first when it is full",
			"bytes", h.st.Bytes, "max_bytes", h.opts.MaxBytes, "minutes", h.st.Minutes)
	case h.warned && h.st.Bytes*10 < h.opts.MaxBytes*7:
		h.warned = false
	}
}
