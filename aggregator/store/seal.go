package store

import (
	"bytes"
	"cmp"
	"context"
	"slices"

	"github.com/edgepulse/edgepulse/codec"
)

// Sealing an agent's hour: its open log rewritten as one chunk per series
// and each series' hourly window appended to the hourly tier; late windows
// of a sealed hour appended to its chunks as records.

// seal reads the hour's open log and the hour's chunks of the given
// series (and of any other series in the log) and queues, in fw's script,
// each series' chunk replaced by a single compressed segment of its
// windows (chunk and log merged, the log's newer), its hourly window
// appended to the hourly tier, and the log deleted. A chunk that is one
// segment of the same windows already (sealed before, by this member or
// another) is left alone, so sealing again changes nothing.
func (w *Write) seal(ctx context.Context, ac *agentSeries, fw *frameWrite, sids []string, hour int64) error {
	if hour < 0 || len(sids) == 0 {
		return nil
	}
	// The day's last hour also seals the day's hourly chunks.
	day := int64(-1)
	if (hour+HourMs)%DayMs == 0 {
		day = hour + HourMs - DayMs
	}
	logV, vals, days, err := w.s.getBlocks(ctx, ac.tag, sids, hour, day, true)
	if err != nil {
		return err
	}
	lg := parseLog(logV)
	keepLog := lg.bad
	if lg.bad {
		w.s.corrupt.Add(1)
	}
	// Series in the log this member does not know of (it started here
	// within the hour, or a series stopped): their windows go to their
	// chunks too before the log goes.
	if len(lg.idx) > 0 {
		have := make(map[string]bool, len(sids))
		for _, sid := range sids {
			have[sid] = true
		}
		var extra []string
		for n := range lg.idx {
			if sid := sidHex(n); !have[sid] {
				extra = append(extra, sid)
			}
		}
		if len(extra) > 0 {
			slices.Sort(extra)
			_, xv, xd, err := w.s.getBlocks(ctx, ac.tag, extra, hour, day, false)
			if err != nil {
				return err
			}
			sids, vals, days = append(slices.Clone(sids), extra...), append(vals, xv...), append(days, xd...)
		}
	}
	at := hour + HourMs + w.s.opts.Retention.Milliseconds()
	var ws []codec.Window
	for i, sid := range sids {
		num, _ := sidNum(sid)
		offs := lg.idx[num]
		if vals[i] == nil && len(offs) == 0 {
			continue
		}
		ws = ws[:0]
		if vals[i] != nil {
			if ws, err = codec.DecodeChunkAll(ws, vals[i]); err != nil {
				w.s.corrupt.Add(1)
				keepLog = true // the chunk is left as it is (reads report it); so is the log
				continue
			}
		}
		var bad int
		if ws, bad = lg.windows(ws, num); bad > 0 {
			w.s.corrupt.Add(uint64(bad))
			keepLog = true
		}
		ws, _ = newestByEnd(ws)
		seg := codec.AppendSegment(nil, ws)
		if len(offs) == 0 && bytes.Equal(seg, vals[i]) {
			continue
		}
		// Should the chunk change meanwhile, the log's windows are
		// appended to it instead (a segment of them: a chunk is any
		// concatenation of segments and records), so deleting the log
		// loses nothing.
		var fallback []byte // a chunk re-sealed without log windows: left as it is
		switch {
		case vals[i] == nil:
			fallback = seg
		case len(offs) > 0:
			lw, _ := lg.windows(nil, num)
			lw, _ = newestByEnd(lw)
			fallback = codec.AppendSegment(nil, lw)
		}
		fw.casK = append(fw.casK, w.s.chunkKey(ac.tag, sid, hour))
		fw.casA = append(fw.casA, len(vals[i]), string(seg), string(fallback), at)
		if day >= 0 && days[i] != nil {
			w.sealDay(ac, fw, sid, ws, hour, day, days[i])
		} else {
			w.hourly(ac, fw, sid, ws, hour)
		}
	}
	if len(logV) > 0 && !keepLog {
		fw.delK = append(fw.delK, w.s.logKey(ac.tag, hour))
		fw.delA = append(fw.delA, len(logV))
		fw.delIK = append(fw.delIK, w.s.logIndexKey(ac.tag, hour))
	}
	return nil
}

// sealDay queues the replacement of a day's hourly chunk (cur, as read)
// by one segment of its windows and the last hour's, merged from ws; if
// the chunk changed meanwhile, the last hour's window is appended as a
// record instead.
func (w *Write) sealDay(ac *agentSeries, fw *frameWrite, sid string, ws []codec.Window, hour, day int64, cur []byte) {
	hp, ok := MergeHour(ws, hour+HourMs)
	if !ok {
		return
	}
	hours, _, err := codec.DecodeChunk(nil, cur)
	if err != nil {
		w.s.corrupt.Add(1)
		w.hourly(ac, fw, sid, ws, hour) // left as it is: reads report it
		return
	}
	i, found := slices.BinarySearchFunc(hours, hp.End, func(x codec.Window, end int64) int { return cmp.Compare(x.End, end) })
	if found {
		hours[i] = hp
	} else {
		hours = slices.Insert(hours, i, hp)
	}
	at := day + DayMs + w.s.opts.HourlyRetention.Milliseconds()
	fw.casK = append(fw.casK, w.s.hourlyKey(ac.tag, sid, day))
	fw.casA = append(fw.casA, len(cur), string(codec.AppendSegment(nil, hours)), string(codec.AppendRecord(nil, &hp)), at)
}

// late queues the hourly windows of a closed hour again, merged from its
// stored windows (chunks and whatever is left in its log) and the late
// ones of this batch (the newest record of a window end wins when the
// hourly chunk is read).
func (w *Write) late(ctx context.Context, ac *agentSeries, fw *frameWrite, sis []*seriesInfo, windows []codec.Window, hour int64) error {
	sids := make([]string, len(sis))
	for i, si := range sis {
		sids[i] = si.sid
	}
	logV, vals, _, err := w.s.getBlocks(ctx, ac.tag, sids, hour, -1, true)
	if err != nil {
		return err
	}
	lg := parseLog(logV)
	var ws []codec.Window
	for i, si := range sis {
		ws = ws[:0]
		if vals[i] != nil {
			if ws, err = codec.DecodeChunkAll(ws, vals[i]); err != nil {
				w.s.corrupt.Add(1)
				ws = ws[:0]
			}
		}
		ws, _ = lg.windows(ws, si.num)
		ws = append(ws, windows[i])
		ws, _ = newestByEnd(ws)
		w.hourly(ac, fw, si.sid, ws, hour)
	}
	return nil
}

// hourly queues the hour's merged window for the hourly tier.
func (w *Write) hourly(ac *agentSeries, fw *frameWrite, sid string, ws []codec.Window, hour int64) {
	hp, ok := MergeHour(ws, hour+HourMs)
	if !ok {
		return
	}
	day := hour - hour%DayMs
	at := day + DayMs + w.s.opts.HourlyRetention.Milliseconds()
	if at <= w.now.UnixMilli() {
		return
	}
	fw.hourK = append(fw.hourK, w.s.hourlyKey(ac.tag, sid, day))
	fw.hourA = append(fw.hourA, string(codec.AppendRecord(nil, &hp)), at)
}
