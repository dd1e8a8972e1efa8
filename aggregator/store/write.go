package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
)

// Write gathers the Redis writes of several frames and Exec sends them in
// two pipelines: first the shared entries (label index, window counters,
// incidents, backhaul meter), then, only when none of those failed, one
// script per frame that appends the frame's windows to their series'
// chunks, records its seq as applied and saves the agent's decoder state,
// atomically (all of an agent's keys share a hash tag, so this holds in a
// Redis Cluster too). The script does nothing when the seq is already
// recorded, so a frame applied twice changes nothing, and a decoder state
// or an applied seq in Redis implies the frame's windows are there.
//
// A Write is used by one goroutine; several Writes may run at once.
type Write struct {
	s   *writer
	now time.Time

	cmds    [][]any                // pipeline 1
	frames  []*frameWrite          // pipeline 2, one script each
	last    map[string]*frameWrite // each agent's newest frame in w
	fresh   []freshSeries          // index entries queued; known once Exec succeeds
	indexed map[string]bool        // shared index members queued
	n       int                    // windows added
	incAt   []int                  // indexes in cmds of incident scripts (their results count the log trimmed)
	expired []Incident             // close events of incidents Exec expired past the cap (incidentexpiry.go)
}

// Expired returns the close events of the incidents the last Exec closed
// as expired because its incidents took the open ones past
// redis.incident_open_max (to republish).
func (w *Write) Expired() []Incident { return w.expired }

// frameWrite is one frame's script: the frame's log entries appended to
// the agent's open log of its hour, records of late windows appended to
// the minute tier's chunks of a closed hour (one expire-at for both),
// records appended to the hourly tier's chunks (each with its
// expire-at), compare-and-set of sealed chunks, open logs deleted once
// sealed, the applied seq and the decoder state.
type frameWrite struct {
	agent    string
	seq      string // "" when not marked applied
	state    []byte
	chain    []byte // wire frames appended to the agent's frame chain (wire.go)
	logK     string // the open log of the frame's hour ("" when nothing goes there)
	log      []byte // its entries (openlog.go)
	idx      []byte // their log index records (logindex.go)
	logIK    string // the log's index
	minuteK  []string
	minuteA  []any // records
	minuteAt int64 // expire-at (Unix ms) of the frame hour's keys
	hourK    []string
	hourA    []any // record, expire-at (Unix ms) pairs
	casK     []string
	casA     []any // expected length, sealed value, fallback record, expire-at quadruples
	delK     []string
	delA     []any    // expected length
	delIK    []string // the indexes of the logs to delete
}

// applyFrameSrc is the per-frame script (see Write). KEYS: the applied
// seqs, the decoder state, the open log of the frame's hour, nM minute-tier
// keys, nH hourly-tier keys, nC keys to seal, nD sealed logs to delete.
// ARGV: seq (or ""), state (or ""), their TTL (ms), seqs kept, nM, nH,
// nC, nD, the expire-at of the frame hour's keys, the log entries (or
// ""), frames for the agent's frame chain (or ""; KEYS[4+nM+nH+nC+nD]
// is the chain, which a state empties), then a record per minute key, (record, expire-at) per hourly key,
// (expected length, value, fallback, expire-at) per sealed key and the
// expected length per log to delete. A sealed value replaces the chunk
// only if its length is still the one read (0: the chunk must not exist;
// it is created with its expire-at), so a window appended meanwhile is
// never lost; when it is not, the fallback (a segment or record of what the sealed
// value added, or "") is appended instead. A sealed log is deleted only
// if its length is still the one read: a window appended to it meanwhile
// stays (readers read a log besides the chunks), and so does its index.
// After the chain key: the log index of the frame's hour
// (KEYS[5+nM+nH+nC+nD]), then that of each log to delete; the frame's
// index records are the last ARGV (or ""), appended after a header with
// the log's length before the frame (logindex.go). A key that an APPEND
// created gets its expire-at.
const applyFrameSrc = `
if ARGV[1] ~= '' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local nM, nH, nC, nD = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local c = 12 + nM + 2*nH
for i = 1, nC do
  local k, n = KEYS[3+nM+nH+i], tonumber(ARGV[c])
  if redis.call('STRLEN', k) == n then
    if n == 0 then redis.call('SET', k, ARGV[c+1], 'PXAT', ARGV[c+3]) else redis.call('SET', k, ARGV[c+1], 'KEEPTTL') end
  elseif ARGV[c+2] ~= '' then
    if redis.call('APPEND', k, ARGV[c+2]) == #ARGV[c+2] then redis.call('PEXPIREAT', k, ARGV[c+3]) end
  end
  c = c + 4
end
for i = 1, nD do
  local k = KEYS[3+nM+nH+nC+i]
  if redis.call('STRLEN', k) == tonumber(ARGV[c]) then redis.call('UNLINK', k, KEYS[5+nM+nH+nC+nD+i]) end
  c = c + 1
end
local at = ARGV[9]
for i = 1, nM do
  local rec = ARGV[11+i]
  if redis.call('APPEND', KEYS[3+i], rec) == #rec then redis.call('PEXPIREAT', KEYS[3+i], at) end
end
local a = 12 + nM
for i = 1, nH do
  local rec = ARGV[a]
  if redis.call('APPEND', KEYS[3+nM+i], rec) == #rec then redis.call('PEXPIREAT', KEYS[3+nM+i], ARGV[a+1]) end
  a = a + 2
end
if ARGV[10] ~= '' then
  local n = redis.call('APPEND', KEYS[3], ARGV[10])
  if n == #ARGV[10] then redis.call('PEXPIREAT', KEYS[3], at) end
  if ARGV[c] ~= '' then
    local ik = KEYS[5+nM+nH+nC+nD]
    local x = string.rep('\255', 8) .. struct.pack('<I4', n - #ARGV[10]) .. ARGV[c]
    if redis.call('APPEND', ik, x) == #x then redis.call('PEXPIREAT', ik, at) end
  end
end
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[4]) - 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
local chain = KEYS[4+nM+nH+nC+nD]
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  redis.call('UNLINK', chain)
end
if ARGV[11] ~= '' then
  redis.call('APPEND', chain, ARGV[11])
  redis.call('PEXPIRE', chain, ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
`

// Len is the number of windows added so far.
func (w *Write) Len() int { return w.n }

// Has tells whether a batch of agent is in w.
func (w *Write) Has(agent string) bool { return w.last[agent] != nil }

// HourMs is the width of the hourly tier's windows and of the minute
// tier's blocks.
const HourMs = 3_600_000

// DayMs is the width of the hourly tier's blocks.
const DayMs = 24 * HourMs

// hourOf is the start of the hour a window starting at start (Unix ms)
// belongs to.
func hourOf(start int64) int64 { return start - start%HourMs }

// ErrBadWindow is a batch whose window cannot be stored (width not in
// (0, 1 h], or a start before 1970): retrying cannot help.
var ErrBadWindow = errors.New("store: bad window")

// ClosesHour tells whether adding b seals an hour of its agent from its
// stored windows (b is the first window of a new hour, a late window of a
// closed hour, or the agent's first batch here). When w already holds a
// batch of that agent, Exec w first, so the seal reads them.
func (w *Write) ClosesHour(b *codec.Batch) bool {
	ac := w.s.agentCache(b)
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.hour != hourOf(b.Start)
}

// Add queues the writes of b: index entries of series new here (and of
// every series once an hour), one record per rollup appended to its
// series' hour chunk and, when b closes an hour of its agent (see
// ClosesHour), the seal of that hour: each series' chunk rewritten as one
// compressed segment and its hourly window appended to the hourly tier
// (one read round trip, once per agent-hour).
func (w *Write) Add(ctx context.Context, b *codec.Batch) error {
	if b.Width <= 0 || b.Width > HourMs || b.Start < 0 {
		return fmt.Errorf("%w: batch %s seq %d has window start %d width %d ms", ErrBadWindow, b.Agent, b.Seq, b.Start, b.Width)
	}
	ac := w.s.agentCache(b)
	ac.mu.Lock()
	defer ac.mu.Unlock()
	end := b.Start + b.Width
	h := hourOf(b.Start)
	fw := &frameWrite{agent: b.Agent}
	var serByID map[uint32]*codec.Series
	infos := make([]*seriesInfo, len(b.Rollups))
	for i := range b.Rollups {
		r := &b.Rollups[i]
		var ser *codec.Series
		if i < len(b.Series) && b.Series[i].ID == r.ID {
			ser = &b.Series[i]
		} else {
			if serByID == nil {
				serByID = make(map[uint32]*codec.Series, len(b.Series))
				for j := range b.Series {
					serByID[b.Series[j].ID] = &b.Series[j]
				}
			}
			ser = serByID[r.ID]
		}
		if ser == nil {
			return fmt.Errorf("store: batch %s seq %d: rollup of unknown series %d", b.Agent, b.Seq, r.ID)
		}
		si := ac.byID[r.ID]
		if si == nil || si.name != ser.Name || !slices.Equal(si.labels, ser.Labels) {
			full := SeriesLabels(b, ser)
			canon := Canon(ser.Name, full)
			sid := SeriesID(canon)
			num, _ := sidNum(sid) // SeriesID is 16 hex digits
			si = &seriesInfo{name: ser.Name, labels: slices.Clone(ser.Labels), canon: canon, full: full, sid: sid, num: num}
			ac.byID[r.ID] = si
		}
		infos[i] = si
	}
	late := ac.hour != 0 && h < ac.hour
	var windows []codec.Window // of a late batch (the hourly tier merges them)
	if late {
		windows = make([]codec.Window, len(b.Rollups))
		for i := range b.Rollups {
			windows[i] = windowOf(end, b.Width, &b.Rollups[i])
		}
	}
	switch {
	case ac.hour == h:
	case ac.hour == 0:
		// The agent's first batch here: the member that applied the hour
		// before may not have sealed it.
		sids := make([]string, len(infos))
		for i, si := range infos {
			sids[i] = si.sid
		}
		if err := w.seal(ctx, ac, fw, sids, h-HourMs); err != nil {
			return fmt.Errorf("store: seal of %s hour %d: %w", b.Agent, h-HourMs, err)
		}
	case h > ac.hour:
		// A new hour: the previous one is complete.
		var sids []string
		for _, si := range ac.byID {
			if si.hour == ac.hour {
				sids = append(sids, si.sid)
			}
			si.known = false // index entries again, once an hour
		}
		if err := w.seal(ctx, ac, fw, sids, ac.hour); err != nil {
			return fmt.Errorf("store: seal of %s hour %d: %w", b.Agent, ac.hour, err)
		}
	default:
		// A late window of a closed hour: its hourly window again, with it.
		if err := w.late(ctx, ac, fw, infos, windows, h); err != nil {
			return fmt.Errorf("store: hourly tier of %s hour %d: %w", b.Agent, h, err)
		}
	}
	// The hour's keys expire at its end plus the retention (data time).
	// Windows of an hour already past that are not written: their key
	// would be gone at once. They are counted (Expired).
	fw.minuteAt = h + HourMs + w.s.opts.Retention.Milliseconds()
	expired := fw.minuteAt <= w.now.UnixMilli()
	var rec []byte
	if !expired && !late {
		fw.logK = w.s.logKey(ac.tag, h)
		fw.logIK = w.s.logIndexKey(ac.tag, h)
		fw.idx = make([]byte, 0, logIndexRecord*len(infos))
		fw.log = make([]byte, 0, 40*len(infos))
	}
	for i, si := range infos {
		if !si.known && !si.queued {
			si.queued = true // by this Write; the cache is dropped if it fails
			w.fresh = append(w.fresh, freshSeries{ac, si})
			w.index(si, h)
		}
		si.hour = max(si.hour, h)
		switch {
		case expired:
		case late:
			// A closed hour's log is sealed (or being sealed): late
			// records go to the chunks.
			rec = codec.AppendRecord(rec[:0], &windows[i])
			fw.minuteK = append(fw.minuteK, w.s.chunkKey(ac.tag, si.sid, h))
			fw.minuteA = append(fw.minuteA, string(rec))
		default:
			win := windowOf(end, b.Width, &b.Rollups[i])
			at := len(fw.log)
			fw.log = appendLogEntry(fw.log, si.num, &win)
			fw.idx = appendIndexRecord(fw.idx, fw.log, at)
		}
	}
	ac.hour = max(ac.hour, h)
	if expired {
		w.s.expired.Add(uint64(len(b.Rollups)))
	} else {
		w.countWindows(b.Start, len(b.Rollups))
	}
	w.frames = append(w.frames, fw)
	w.last[b.Agent] = fw
	w.n += len(b.Rollups)
	return nil
}

// windowOf is the stored form of a rollup.
func windowOf(end, width int64, r *codec.Rollup) codec.Window {
	p := codec.Window{End: end, Width: width, Count: r.Count, Sum: r.Sum, Min: r.Min, Max: r.Max, First: r.First, Last: r.Last}
	if len(r.Quantiles) == 3 {
		p.P50, p.P90, p.P99, p.HasQuantiles = r.Quantiles[0], r.Quantiles[1], r.Quantiles[2], true
	}
	return p
}

// index queues the index entries of a series (see index.go). Members
// shared by many series (names, label names and values) are queued once
// per Write and per hour.
func (w *Write) index(si *seriesInfo, hour int64) {
	w.cmds = append(w.cmds,
		[]any{"HSET", w.s.key("series"), si.sid, si.canon},
		[]any{"SADD", w.s.key("name:", si.name), si.sid},
		[]any{"ZADD", w.s.key("seen"), hour, si.sid})
	w.shared("names", "", si.name)
	for j := 0; j+1 < len(si.full); j += 2 {
		w.cmds = append(w.cmds, []any{"SADD", w.s.postingKey(si.full[j], si.full[j+1]), si.sid})
		w.shared("lnames", "", si.full[j])
		w.shared("lv:", si.full[j], si.full[j+1])
	}
}

// shared queues SADD <p><set><suffix> member once per Write.
func (w *Write) shared(set, suffix, member string) {
	k := set + suffix + "\x00" + member
	if w.indexed[k] {
		return
	}
	if w.indexed == nil {
		w.indexed = map[string]bool{}
	}
	w.indexed[k] = true
	w.cmds = append(w.cmds, []any{"SADD", w.s.key(set, suffix), member})
}

// MarkApplied records, with agent's newest frame added to w (seq), that
// the frame is applied: its script then does nothing when seq is recorded
// already, and records it with the frame's windows.
func (w *Write) MarkApplied(ctx context.Context, agent string, seq uint64) {
	if fw := w.last[agent]; fw != nil {
		fw.seq = strconv.FormatUint(seq, 10)
	}
}

// SetWireState saves agent's decoder state (<p>w:{agent}) with the
// agent's newest frame in w, so whichever member owns the agent's
// partition next continues its frames. It empties the agent's frame
// chain (AppendWireFrames).
func (w *Write) SetWireState(ctx context.Context, agent string, state []byte) {
	if fw := w.last[agent]; fw != nil {
		fw.state = state
	}
}

// AppendWireFrames appends wire frames (each as AppendChainFrame wrote
// it) to agent's frame chain (<p>wf:{agent}) with the agent's newest
// frame in w: the saved state is then the one in <p>w:{agent} with these
// frames applied in order (WireStateFor). Appending a frame costs a few
// hundred bytes where a state is the whole dictionary, packed and
// compressed, for every frame.
func (w *Write) AppendWireFrames(ctx context.Context, agent string, frames []byte) {
	if fw := w.last[agent]; fw != nil {
		fw.chain = frames
	}
}

// AppendChainFrame appends one wire frame as an entry of a frame chain
// (its length, uvarint, then its bytes).
func AppendChainFrame(dst, frame []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(frame)))
	return append(dst, frame...)
}

// AddBackhaul queues counting one frame of host at site: its bytes go into
// the site's counter of the minute it was applied in, and the host into
// that minute's set of reporting hosts. Keys: <p>bh:<site>:<minute> (hash:
// bytes, frames) and <p>bhh:<site>:<minute> (HyperLogLog of hosts);
// minute is Unix seconds / 60. Every member adds to the same keys.
func (w *Write) AddBackhaul(ctx context.Context, site, host string, bytes int, at time.Time) {
	// The minute's keys expire backhaulTTL after the minute, in the
	// frames' own time like the chunks: a backlog of old frames does not
	// keep meter keys for another 48 h.
	minute := at.Unix() / 60
	expireAt := (minute+1)*60_000 + backhaulTTL.Milliseconds()
	if expireAt <= w.now.UnixMilli() {
		return
	}
	m := strconv.FormatInt(minute, 10)
	kb, kh := w.s.key("bh:", site, ":", m), w.s.key("bhh:", site, ":", m)
	w.cmds = append(w.cmds,
		[]any{"HINCRBY", kb, "bytes", bytes},
		[]any{"HINCRBY", kb, "frames", 1},
		[]any{"PEXPIREAT", kb, expireAt},
		[]any{"PFADD", kh, host},
		[]any{"PEXPIREAT", kh, expireAt},
		[]any{"SADD", w.s.key("bhsites"), site})
}

// AddIncidents queues recording incident transitions (applyIncidentSrc).
func (w *Write) AddIncidents(ctx context.Context, incs []Incident) error {
	for i := range incs {
		doc, err := json.Marshal(&incs[i])
		if err != nil {
			return fmt.Errorf("store: incident %s: %w", incs[i].Key(), err)
		}
		w.incAt = append(w.incAt, len(w.cmds))
		w.cmds = append(w.cmds, []any{"EVAL", applyIncidentSrc, 6, w.s.key(incidentTag, "open"), w.s.key(incidentTag, "closed"),
			w.s.key(incidentTag, "log"), w.s.key(incidentTag, "shut"), w.s.key(incidentTag, "openat"), w.s.key(incidentTag, "expired"),
			incs[i].Key(), incs[i].State, string(doc), incs[i].Time,
			w.now.Add(-w.s.opts.IncidentLogRetention).UnixMilli(), w.s.opts.IncidentLogMax})
	}
	return nil
}

// Exec sends everything queued. On failure some of it may have run;
// every caller redelivers the frames, and the caches it advanced are
// dropped so the next write starts over from what Redis holds.
func (w *Write) Exec(ctx context.Context) error {
	if len(w.cmds)+len(w.frames) == 0 {
		return nil
	}
	err := w.exec(ctx)
	if err != nil {
		// What failed may be Redis restarting (empty, or from an older
		// snapshot) or failing over: the caches of every agent may be
		// ahead of what Redis holds now.
		w.s.ForgetWrites()
		return fmt.Errorf("store: write of %d windows: %w", w.n, err)
	}
	for _, f := range w.fresh {
		f.ac.mu.Lock()
		f.si.known, f.si.queued = true, false
		f.ac.mu.Unlock()
	}
	return nil
}

func (w *Write) exec(ctx context.Context) error {
	if len(w.cmds) > 0 {
		pipe := w.s.rdb.Pipeline()
		for _, c := range w.cmds {
			pipe.Do(ctx, c...)
		}
		res, err := pipe.Exec(ctx)
		if err != nil {
			return err
		}
		if w.countIncidents(res) > w.s.opts.IncidentOpenMax {
			// The cap is enforced as it is passed, not only by the
			// periodic sweep; a failure here fails no frame (the sweep
			// retries).
			r, err := expireOpen(ctx, w.s.conn, w.now, false)
			if err != nil {
				w.s.incCapErrs.Add(1)
			}
			w.expired = r.Closed
		}
	}
	if len(w.frames) == 0 {
		return nil
	}
	pipe := w.s.rdb.Pipeline()
	ttl := WireStateTTL.Milliseconds()
	for _, fw := range w.frames {
		t := tag(fw.agent)
		logK := fw.logK
		if logK == "" {
			logK = w.s.key("w:", t) // a key of the slot; not written (no entries)
		}
		keys := make([]string, 0, 3+len(fw.minuteK)+len(fw.hourK)+len(fw.casK)+len(fw.delK))
		keys = append(keys, w.s.key("ws:", t), w.s.key("w:", t), logK)
		keys = append(keys, fw.minuteK...)
		keys = append(keys, fw.hourK...)
		keys = append(keys, fw.casK...)
		keys = append(keys, fw.delK...)
		keys = append(keys, w.s.key("wf:", t))
		idxK := fw.logIK
		if idxK == "" {
			idxK = w.s.key("w:", t) // a key of the slot; not written (no entries)
		}
		keys = append(keys, idxK)
		keys = append(keys, fw.delIK...)
		args := make([]any, 0, 11+len(fw.minuteA)+len(fw.hourA)+len(fw.casA)+len(fw.delA))
		state := ""
		if fw.state != nil {
			state = string(fw.state)
		}
		args = append(args, fw.seq, state, ttl, AppliedSeqs, len(fw.minuteK), len(fw.hourK), len(fw.casK), len(fw.delK), fw.minuteAt, fw.log, fw.chain)
		args = append(args, fw.minuteA...)
		args = append(args, fw.hourA...)
		args = append(args, fw.casA...)
		args = append(args, fw.delA...)
		idx := ""
		if len(fw.log) < maxIndexedFrame {
			idx = string(fw.idx)
		}
		args = append(args, idx)
		pipe.Eval(ctx, applyFrameSrc, keys, args...)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// countWindows queues adding n windows starting at start (Unix ms) to
// their hour's counter, which expires an hour after the retention. A
// batch written again (a redelivery after a failed write) counts again:
// StoredWindows is a meter of writes, exact while writes succeed.
func (w *Write) countWindows(start int64, n int) {
	if n == 0 {
		return
	}
	k := w.s.windowCountKey(start / HourMs)
	w.cmds = append(w.cmds, []any{"INCRBY", k, n}, []any{"PEXPIRE", k, (w.s.opts.Retention + time.Hour).Milliseconds()})
}

// countIncidents adds up what the incident scripts of a pipeline removed
// from the log and the events for expired incidents, and returns the most
// open incidents one of them left (0 without incident scripts).
func (w *Write) countIncidents(res []redis.Cmder) int {
	most := 0
	for _, i := range w.incAt {
		if i >= len(res) {
			continue
		}
		c, ok := res[i].(*redis.Cmd)
		if !ok {
			continue
		}
		r, err := c.Int64Slice()
		if err != nil || len(r) != 3 {
			continue
		}
		if r[0] > 0 {
			w.s.incTrimmed.Add(uint64(r[0]))
		}
		if r[1] > 0 {
			w.s.incLate.Add(uint64(r[1]))
		}
		most = max(most, int(r[2]))
	}
	return most
}
