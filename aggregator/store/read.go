package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
)

// reader is the Store's read side: it starts Readers and holds what
// they share across queries: the decoded chunk cache (chunkcache.go) and
// whether old-layout keys (legacy.go) or whole open logs (logindex.go)
// are read.
type reader struct {
	*conn
	// legacy is set when keys of the layout before chunks exist
	// (legacy.go): reads then read them alongside.
	legacy atomic.Bool
	// wholeLogs makes reads GET open logs whole (logindex.go).
	wholeLogs atomic.Bool
	// decoded keeps decoded chunks across queries (chunkcache.go).
	decoded *decodedCache
}

// Reader reads stored windows for one query. Every chunk it reads is
// kept until the Reader is dropped, so a query asking several statistics
// of a series (node_load1:avg and node_load1:max, or a selector and its
// offset) reads the series' chunks from Redis once. A Reader is used by
// one goroutine.
type Reader struct {
	s     *reader
	cache map[string][]codec.Window
	logs  map[string]*openLog // open logs read (nil: none there)
	// Corrupt counts chunks skipped because they did not decode;
	// Repeats counts windows stored more than once (the newest record
	// of a window end is taken).
	Corrupt, Repeats int
}

// NewReader starts a Reader with an empty chunk cache.
func (s *reader) NewReader() *Reader {
	return &Reader{s: s, cache: map[string][]codec.Window{}, logs: map[string]*openLog{}}
}

// Points returns the stored windows of each series ending in [mint,
// maxt] (Unix ms), oldest first, one per window end.
func (s *reader) Points(ctx context.Context, refs []SeriesRef, mint, maxt int64) ([][]Point, error) {
	return s.NewReader().Points(ctx, refs, mint, maxt)
}

// HourlyPoints is Reader.HourlyPoints on a fresh Reader.
func (s *reader) HourlyPoints(ctx context.Context, refs []SeriesRef, mint, maxt int64) ([][]Point, error) {
	return s.NewReader().HourlyPoints(ctx, refs, mint, maxt)
}

// Points returns the minute tier's windows of each series ending in
// [mint, maxt] (Unix ms), oldest first, one per window end.
func (r *Reader) Points(ctx context.Context, refs []SeriesRef, mint, maxt int64) ([][]Point, error) {
	if maxt < mint {
		return make([][]Point, len(refs)), nil
	}
	// A window of width ≤ 1 h ending at mint started at mint−1h at the
	// earliest; its block is the hour it started in. One ending at maxt
	// started at maxt−1 at the latest (widths are > 0): a range ending on
	// an hour boundary does not read the next hour's block.
	first, last := hourOf(max(mint-HourMs, 0)), hourOf(max(maxt-1, 0))
	first, last = r.s.clamp(first, last, r.s.opts.Retention.Milliseconds(), HourMs)
	lo, hi := make([]int64, len(refs)), make([]int64, len(refs))
	for i := range refs {
		lo[i], hi[i] = first, last
	}
	out, err := r.minute(ctx, refs, lo, hi, mint, maxt)
	if err != nil {
		return nil, fmt.Errorf("store: windows of %d series: %w", len(refs), err)
	}
	if err := r.legacyPoints(ctx, "d:", refs, mint, maxt, out); err != nil {
		return nil, err
	}
	return out, nil
}

// minute reads the minute tier's windows of each series refs[i] in the
// hour blocks lo[i]..hi[i] (chunks and open logs, in one pipeline) and
// returns those ending in [mint, maxt], sorted by end, one per end (a
// log's window wins over a chunk's).
func (r *Reader) minute(ctx context.Context, refs []SeriesRef, lo, hi []int64, mint, maxt int64) ([][]Point, error) {
	keys := make([][]string, len(refs))
	logs := make([][]string, len(refs))
	nums := make([]uint64, len(refs))
	valid := make([]bool, len(refs))
	asks := map[string]*logAsk{}
	for i, ref := range refs {
		t := tag(ref.Agent)
		num, err := sidNum(ref.ID)
		nums[i], valid[i] = num, err == nil // else not a series of this layout
		for h := lo[i]; h <= hi[i]; h += HourMs {
			keys[i] = append(keys[i], r.s.chunkKey(t, ref.ID, h))
			k := r.s.logKey(t, h)
			logs[i] = append(logs[i], k)
			a := asks[k]
			if a == nil {
				a = &logAsk{idx: r.s.logIndexKey(t, h)}
				asks[k] = a
			}
			if valid[i] {
				a.sids = append(a.sids, num)
			}
		}
	}
	if err := r.fetch(ctx, keys, asks); err != nil {
		return nil, err
	}
	// Index each log read for the series asked of it, in one pass.
	want := map[*openLog][]uint64{}
	for i := range refs {
		if !valid[i] {
			continue
		}
		for _, k := range logs[i] {
			if l := r.logs[k]; l != nil {
				want[l] = append(want[l], nums[i])
			}
		}
	}
	for l, sids := range want {
		bad := l.bad
		if l.index(sids); l.bad && !bad {
			r.Corrupt++
			r.s.corrupt.Add(1)
		}
	}
	out := make([][]Point, len(refs))
	for i := range refs {
		out[i] = r.collect(keys[i], mint, maxt)
		if !valid[i] {
			continue
		}
		num := nums[i]
		n := len(out[i])
		more := 0
		for _, k := range logs[i] {
			if l := r.logs[k]; l != nil {
				more += len(l.idx[num])
			}
		}
		out[i] = slices.Grow(out[i], more)
		for _, k := range logs[i] {
			if l := r.logs[k]; l != nil {
				var bad int
				out[i], bad = l.windows(out[i], num)
				r.Corrupt += bad
			}
		}
		if len(out[i]) == n {
			continue
		}
		ws := out[i][n:]
		j := 0
		for _, w := range ws {
			if w.End >= mint && w.End <= maxt {
				ws[j] = w
				j++
			}
		}
		if j == 0 {
			out[i] = out[i][:n]
			continue
		}
		var rep int
		out[i], rep = newestByEnd(out[i][:n+j])
		r.Repeats += rep
	}
	return out, nil
}

func sortPoints(ps []Point) {
	slices.SortStableFunc(ps, func(a, b Point) int { return cmp.Compare(a.End, b.End) })
}

// clamp limits the blocks [first, last] (block starts, Unix ms) to the
// ones that can exist: none ends before now − retention (they expired),
// none starts more than a day ahead of this clock.
func (s *reader) clamp(first, last, retention, block int64) (int64, int64) {
	now := s.now().UnixMilli()
	lo := now - retention - block
	lo -= lo % block
	hi := now + DayMs
	hi -= hi % block
	return max(first, lo), min(last, hi)
}

// logAsk is what a query asks of an open log: its index key and the
// series wanted from it.
type logAsk struct {
	idx  string
	sids []uint64
}

// fetch reads the chunks and open logs (the entries of the series asked,
// or whole logs: logindex.go) not cached yet, in one pipeline.
func (r *Reader) fetch(ctx context.Context, keys [][]string, logs map[string]*logAsk) error {
	var want, wantLogs []string
	for _, ks := range keys {
		for _, k := range ks {
			if _, ok := r.cache[k]; !ok {
				r.cache[k] = nil
				want = append(want, k)
			}
		}
	}
	whole := r.s.wholeLogs.Load()
	var xkeys []string
	var xsids [][]uint64
	for k, a := range logs {
		l, ok := r.logs[k]
		switch {
		case !ok && (whole || len(a.sids) > maxExtractSeries):
			r.logs[k] = nil
			wantLogs = append(wantLogs, k)
		case ok && (l == nil || l.got == nil):
			// read: absent, or whole
		default:
			var miss []uint64
			for _, sid := range a.sids {
				if l == nil || !l.got[sid] {
					miss = append(miss, sid)
				}
			}
			if len(miss) > 0 {
				xkeys, xsids = append(xkeys, k, a.idx), append(xsids, miss)
			}
		}
	}
	if len(want)+len(wantLogs)+len(xkeys) == 0 {
		return nil
	}
	pipe := r.s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(want))
	for i, k := range want {
		cmds[i] = pipe.Get(ctx, k)
	}
	lcmds := make([]*redis.StringCmd, len(wantLogs))
	for i, k := range wantLogs {
		lcmds[i] = pipe.Get(ctx, k)
	}
	xcmds := make([]*redis.Cmd, len(xsids))
	for i, sids := range xsids {
		xcmds[i] = pipe.EvalSha(ctx, logExtractSha, xkeys[2*i:2*i+2], extractArgs(sids)...)
	}
	_, err := pipe.Exec(ctx)
	if err == nil || errors.Is(err, redis.Nil) || redis.HasErrorPrefix(err, "NOSCRIPT") {
		err = r.evalUnloaded(ctx, xcmds, xkeys, xsids)
	}
	for _, c := range cmds {
		if err == nil && c.Err() != nil && !errors.Is(c.Err(), redis.Nil) {
			err = c.Err()
		}
	}
	for _, c := range lcmds {
		if err == nil && c.Err() != nil && !errors.Is(c.Err(), redis.Nil) {
			err = c.Err()
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		for _, k := range want {
			delete(r.cache, k)
		}
		for _, k := range wantLogs {
			delete(r.logs, k)
		}
		return err
	}
	for i, c := range xcmds {
		if err := r.extracted(xkeys[2*i], xsids[i], c); err != nil {
			return err
		}
	}
	for i, c := range cmds {
		p, err := c.Bytes()
		if err != nil {
			continue // no such block
		}
		ws, rep, ok := r.s.decoded.get(want[i], p)
		if !ok {
			if ws, rep, err = codec.DecodeChunk(nil, p); err != nil {
				r.Corrupt++
				r.s.corrupt.Add(1)
				continue
			}
			r.s.decoded.put(want[i], p, ws, rep)
		}
		r.Repeats += rep
		r.cache[want[i]] = ws
	}
	for i, c := range lcmds {
		p, err := c.Bytes()
		if err != nil {
			continue // no open log in that hour
		}
		r.logs[wantLogs[i]] = newLog(p)
	}
	return nil
}

// collect concatenates the cached windows of keys ending in [mint, maxt],
// sorted by end, one per end.
func (r *Reader) collect(keys []string, mint, maxt int64) []Point {
	var out []Point
	sorted := true
	for _, k := range keys {
		ws := r.cache[k] // sorted by End (codec.DecodeChunk)
		i, _ := slices.BinarySearchFunc(ws, mint, func(w codec.Window, t int64) int { return cmp.Compare(w.End, t) })
		for _, w := range ws[i:] {
			if w.End > maxt {
				break
			}
			if n := len(out); n > 0 && out[n-1].End >= w.End {
				sorted = false
			}
			out = append(out, w)
		}
	}
	if !sorted {
		slices.SortStableFunc(out, func(a, b Point) int { return cmp.Compare(a.End, b.End) })
		out = slices.CompactFunc(out, func(a, b Point) bool { return a.End == b.End })
	}
	return out
}

// HourlyPoints returns each series' hourly windows whose hours end in
// [mint, maxt] (Unix ms), oldest first. Hours after the newest one in the
// hourly tier (the hour in progress, or one not sealed yet) are merged
// from the minute windows on the fly, so the tier has no hole at its
// recent end.
func (r *Reader) HourlyPoints(ctx context.Context, refs []SeriesRef, mint, maxt int64) ([][]Point, error) {
	out := make([][]Point, len(refs))
	if maxt < mint {
		return out, nil
	}
	// An hourly window ending in [mint, maxt] started an hour before; its
	// block is the day it started in.
	first, last := max(mint-HourMs, 0), max(maxt-HourMs, 0)
	first, last = first-first%DayMs, last-last%DayMs
	first, last = r.s.clamp(first, last, r.s.opts.HourlyRetention.Milliseconds(), DayMs)
	keys := make([][]string, len(refs))
	for i, ref := range refs {
		for d := first; d <= last; d += DayMs {
			keys[i] = append(keys[i], r.s.hourlyKey(tag(ref.Agent), ref.ID, d))
		}
	}
	if err := r.fetch(ctx, keys, nil); err != nil {
		return nil, fmt.Errorf("store: hourly windows of %d series: %w", len(refs), err)
	}
	// The tail: minute windows of the hours after the newest hourly one.
	from := make([]int64, len(refs))
	for i := range refs {
		out[i] = r.collect(keys[i], mint, maxt)
	}
	if err := r.legacyPoints(ctx, "h:", refs, mint, maxt, out); err != nil {
		return nil, err
	}
	lo, hi := make([]int64, len(refs)), make([]int64, len(refs))
	for i := range refs {
		from[i] = max(mint-HourMs, 0)
		if n := len(out[i]); n > 0 {
			from[i] = out[i][n-1].End
		}
		lo[i], hi[i] = r.s.clamp(hourOf(from[i]), hourOf(max(maxt-1, 0)), r.s.opts.Retention.Milliseconds(), HourMs)
	}
	tails, err := r.minute(ctx, refs, lo, hi, 0, maxt)
	if err != nil {
		return nil, fmt.Errorf("store: recent minute windows of %d series: %w", len(refs), err)
	}
	for i := range refs {
		ws := tails[i]
		for len(ws) > 0 && ws[0].End <= from[i] {
			ws = ws[1:]
		}
		for len(ws) > 0 {
			h := hourOf(ws[0].End - ws[0].Width)
			n := 1
			for n < len(ws) && hourOf(ws[n].End-ws[n].Width) == h {
				n++
			}
			if end := h + HourMs; end >= mint && end <= maxt {
				if hp, ok := MergeHour(ws[:n], end); ok {
					out[i] = append(out[i], hp)
				}
			}
			ws = ws[n:]
		}
	}
	return out, nil
}

// WindowCopies returns, for each window end in ends (windows of the
// given width), every record of the series' window stored there: none
// when it is missing, more than one when it was written more than once
// and not sealed since (sealing keeps one). For fault checks and tests.
func (s *reader) WindowCopies(ctx context.Context, agent, sid string, width int64, ends []int64) ([][]Point, error) {
	num, err := sidNum(sid)
	if err != nil {
		return nil, err
	}
	blocks := map[int64]*redis.StringCmd{}
	logs := map[int64]*redis.StringCmd{}
	pipe := s.rdb.Pipeline()
	for _, e := range ends {
		h := hourOf(max(e-width, 0))
		if blocks[h] == nil {
			blocks[h] = pipe.Get(ctx, s.chunkKey(tag(agent), sid, h))
			logs[h] = pipe.Get(ctx, s.logKey(tag(agent), h))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("store: windows of %s %s: %w", agent, sid, err)
	}
	byEnd := map[int64][]Point{}
	for h, c := range blocks {
		var ws []Point
		if p, err := c.Bytes(); err == nil {
			if ws, err = codec.DecodeChunkAll(nil, p); err != nil {
				return nil, fmt.Errorf("store: chunk of %s %s: %w", agent, sid, err)
			}
		}
		if p, err := logs[h].Bytes(); err == nil {
			l := parseLog(p)
			var bad int
			if ws, bad = l.windows(ws, num); l.bad || bad > 0 {
				return nil, fmt.Errorf("store: open log of %s hour %d: malformed", agent, h)
			}
		}
		for _, w := range ws {
			byEnd[w.End] = append(byEnd[w.End], w)
		}
	}
	out := make([][]Point, len(ends))
	for i, e := range ends {
		out[i] = byEnd[e]
	}
	return out, nil
}

// WindowOf is the stored form of a batch's rollup: the window ending at
// end, width wide.
func WindowOf(end, width int64, r *codec.Rollup) Point { return windowOf(end, width, r) }

// SetWholeLogReads makes queries read open logs whole (GET) instead of
// through their index: the layout before the index, kept to measure
// the two against each other in one run (testbench/capacity).
func (s *reader) SetWholeLogReads(on bool) { s.wholeLogs.Store(on) }
