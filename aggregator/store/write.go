package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
)

// Write gathers the Redis writes of several frames — rollups, hourly
// tier, incidents, backhaul counters, applied seqs, decoder states — and
// Exec sends them in two pipelines on one connection: the data, then,
// only when no command of it failed, the records that say it is stored
// (MarkApplied, SetWireState). So a decoder state or an applied seq in
// Redis implies the frames' rollups are there. Every command is
// idempotent except the backhaul counters (a meter: a redelivered frame
// counts again).
//
// A Write is used by one goroutine; several Writes may run at once.
type Write struct {
	s *Store
	p respPipe // data: sent first
	// c holds what says the data is stored (applied seqs, decoder
	// states): sent only after p got no error reply, on the same
	// connection.
	c   respPipe
	now int64 // Unix s, for TTL refreshes

	touched []*agentSeries // agents whose caches this Write advanced
	fresh   []freshSeries  // index entries written; known once Exec succeeds
	agents  map[string]bool
	buf     []byte
	n       int             // rollups added
	marked  map[string]bool // agents with MarkApplied
	indexed map[string]bool // index entries queued (see index)
	trim    []string        // their ws: keys
}

// agentSeries caches what the store derives from one agent's series
// dictionary (labels, series id, key names), so a window costs one ZADD
// and no string building. Frames of one agent are applied by one
// partition consumer at a time; mu guards the rare overlap.
type agentSeries struct {
	mu         sync.Mutex
	name       string // the agent
	site, host string
	byID       map[uint32]*seriesInfo
	// hour is the start (Unix ms) of the newest hour windows were written
	// for, 0 before the first write (since a restart or handoff).
	hour int64
}

type freshSeries struct {
	ac *agentSeries
	si *seriesInfo
}

type seriesInfo struct {
	name   string   // as the agent sent them, to notice a changed dictionary entry
	labels []string //
	canon  string
	full   []string // labels as stored (site and instance added)
	sid    string
	dkey   string // <p>d:<sid>
	hkey   string // <p>h:<sid>
	zadd   []byte // RESP of "ZADD <dkey>" (4 arguments)
	known  bool   // index entries written
	queued bool   // index entries queued in a Write not executed yet
	// expired is when the minute key's TTL was last refreshed (Unix s).
	expired int64
	// hour is the start of the newest hour a window was written for.
	hour int64
}

// bufs recycles pipeline buffers (a write of 16 frames is about 2 MB).
var bufs sync.Pool

func getBuf() []byte {
	if b, ok := bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 256<<10)
}

func putBuf(b []byte) {
	if cap(b) <= 16<<20 {
		bufs.Put(&b)
	}
}

// NewWrite starts an empty Write. Exec it (even when empty) to recycle
// its buffer.
func (s *Store) NewWrite() *Write {
	return &Write{s: s, p: respPipe{buf: getBuf()}, now: time.Now().Unix(), agents: map[string]bool{}, buf: make([]byte, 0, 192)}
}

// Len is the number of rollups added so far.
func (w *Write) Len() int { return w.n }

// Has tells whether a batch of agent is in w.
func (w *Write) Has(agent string) bool { return w.agents[agent] }

func (s *Store) agentCache(b *codec.Batch) *agentSeries {
	s.mu.Lock()
	defer s.mu.Unlock()
	ac := s.agents[b.Agent]
	if ac == nil || ac.site != b.Site || ac.host != b.Host {
		ac = &agentSeries{name: b.Agent, site: b.Site, host: b.Host, byID: make(map[uint32]*seriesInfo)}
		s.agents[b.Agent] = ac
	}
	return ac
}

// hourOf is the start of the hour a window starting at start (Unix ms)
// belongs to.
func hourOf(start int64) int64 { return start - start%HourMs }

// HourMs is the width of the hourly tier's windows.
const HourMs = 3_600_000

// ClosesHour tells whether adding b compacts an hour of its agent from
// stored windows (b is the first window of a new hour, a late window of a
// closed hour, or the agent's first batch here). When w already holds a
// batch of that agent, Exec w first, so the compaction reads them.
func (w *Write) ClosesHour(b *codec.Batch) bool {
	ac := w.s.agentCache(b)
	ac.mu.Lock()
	defer ac.mu.Unlock()
	return ac.hour != hourOf(b.Start)
}

// Add queues the writes of b: index entries of new series, one ZADD per
// rollup and, when b closes an hour of its agent (see ClosesHour), the
// hourly rollups of that hour computed from the stored windows (one read
// round trip, once per agent-hour).
func (w *Write) Add(ctx context.Context, b *codec.Batch) error {
	ac := w.s.agentCache(b)
	ac.mu.Lock()
	defer ac.mu.Unlock()
	end := b.Start + b.Width
	h := hourOf(b.Start)
	var compact []*seriesInfo
	compactHour := int64(-1)
	switch {
	case ac.hour == h:
	case ac.hour != 0 && h > ac.hour:
		// A new hour: the previous one is complete.
		compactHour = ac.hour
		for _, si := range ac.byID {
			if si.hour == ac.hour {
				compact = append(compact, si)
			}
		}
	default:
		// A late window of a closed hour (compacted again with it), or the
		// agent's first batch here: the member that applied the hour
		// before may not have compacted it.
		compactHour = h
		if ac.hour == 0 {
			compactHour = h - HourMs
		}
	}
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
			si = &seriesInfo{name: ser.Name, labels: slices.Clone(ser.Labels), canon: canon, full: full, sid: sid,
				dkey: w.s.key("d:", sid), hkey: w.s.key("h:", sid)}
			ac.byID[r.ID] = si
		}
		infos[i] = si
		if compactHour == h && ac.hour != 0 {
			compact = append(compact, si) // late window: its own series
		}
	}
	if ac.hour == 0 {
		compact = infos
	}
	if compactHour >= 0 && len(compact) > 0 {
		var late map[*seriesInfo]*codec.Rollup
		if compactHour == h {
			late = make(map[*seriesInfo]*codec.Rollup, len(infos))
			for i, si := range infos {
				late[si] = &b.Rollups[i]
			}
		}
		if err := w.compact(ctx, compact, compactHour, late, end, b.Width); err != nil {
			return fmt.Errorf("store: hourly tier of %s hour %d: %w", b.Agent, compactHour, err)
		}
	}
	for i, si := range infos {
		if !si.known && !si.queued {
			si.queued = true // by this Write; the cache is dropped if it fails
			w.fresh = append(w.fresh, freshSeries{ac, si})
			w.p.args("HSET", w.s.key("series"), si.sid, si.canon)
			w.p.args("SADD", w.s.key("name:", si.name), si.sid)
			// Names and label values are shared by many series: each is
			// written once per process (again after a failed write).
			w.index("names", "", si.name)
			for j := 0; j < len(si.full); j += 2 {
				w.index("lnames", "", si.full[j])
				w.index("lv:", si.full[j], si.full[j+1])
			}
		}
		w.buf = AppendMember(w.buf[:0], end, b.Width, &b.Rollups[i])
		if si.zadd == nil {
			var h respPipe
			h.cmd(4)
			h.str("ZADD")
			h.str(si.dkey)
			si.zadd = h.buf
		}
		w.p.n++
		w.p.buf = append(w.p.buf, si.zadd...)
		w.p.int(end)
		w.p.bytes(w.buf)
		if w.now-si.expired >= expireEvery {
			si.expired = w.now // undone by Exec on failure
			w.pexpire(si.dkey, w.s.opts.Retention)
		}
		if h > si.hour {
			si.hour = h
		}
	}
	if h > ac.hour {
		ac.hour = h
	}
	w.countWindows(b.Start, len(b.Rollups))
	w.touched = append(w.touched, ac)
	w.agents[b.Agent] = true
	w.n += len(b.Rollups)
	return nil
}

// index queues SADD <p><set><suffix> member unless it is known written.
func (w *Write) index(set, suffix, member string) {
	k := set + suffix + "\x00" + member
	w.s.mu.Lock()
	_, ok := w.s.indexed[k]
	w.s.mu.Unlock()
	if ok || w.indexed[k] {
		return
	}
	if w.indexed == nil {
		w.indexed = map[string]bool{}
	}
	w.indexed[k] = true
	w.p.args("SADD", w.s.key(set, suffix), member)
}

// compact reads the stored windows of hour (start, Unix ms) of each series
// and queues its hourly rollup, replacing any earlier one: a pure function
// of the stored windows, so compacting again changes nothing. late, when
// set, holds windows of this very Write (not stored yet) to merge in.
func (w *Write) compact(ctx context.Context, sis []*seriesInfo, hour int64, late map[*seriesInfo]*codec.Rollup, lateEnd, lateWidth int64) error {
	pipe := w.s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(sis))
	lo, hi := strconv.FormatInt(hour+1, 10), strconv.FormatInt(hour+HourMs, 10)
	for i, si := range sis {
		cmds[i] = pipe.ZRangeByScore(ctx, si.dkey, &redis.ZRangeBy{Min: lo, Max: hi})
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return err
	}
	end := hour + HourMs
	score := strconv.FormatInt(end, 10)
	var pts []Point
	for i, si := range sis {
		pts = pts[:0]
		for _, m := range cmds[i].Val() {
			p, err := ParseMember(m)
			if err != nil {
				return err
			}
			pts = append(pts, p)
		}
		if r := late[si]; r != nil {
			p, err := ParseMember(string(AppendMember(nil, lateEnd, lateWidth, r)))
			if err != nil {
				return err
			}
			pts = append(pts, p)
		}
		hp, ok := MergeHour(pts, end)
		if !ok {
			continue
		}
		w.buf = appendPoint(w.buf[:0], &hp)
		w.p.args("ZREMRANGEBYSCORE", si.hkey, score, score)
		w.p.cmd(4)
		w.p.str("ZADD")
		w.p.str(si.hkey)
		w.p.str(score)
		w.p.bytes(w.buf)
		w.pexpire(si.hkey, w.s.opts.HourlyRetention)
	}
	return nil
}

func (w *Write) pexpire(key string, ttl time.Duration) {
	w.p.cmd(3)
	w.p.str("PEXPIRE")
	w.p.str(key)
	w.p.int(ttl.Milliseconds())
}

// SetWireState queues saving agent's decoder state (<prefix>w:<agent>), so
// whichever member owns the agent's partition next continues its frames.
func (w *Write) SetWireState(ctx context.Context, agent string, state []byte) {
	w.c.cmd(5)
	w.c.str("SET")
	w.c.str(w.s.key("w:", agent))
	w.c.bytes(state)
	w.c.str("PX")
	w.c.int(WireStateTTL.Milliseconds())
}

// AddBackhaul queues counting one frame of host at site: its bytes go into the
// site's counter of the minute it was applied in, and the host into that
// minute's set of reporting hosts. Keys: <prefix>bh:<site>:<minute> (hash:
// bytes, frames) and <prefix>bhh:<site>:<minute> (HyperLogLog of hosts);
// minute is Unix seconds / 60. Every member adds to the same keys.
func (w *Write) AddBackhaul(ctx context.Context, site, host string, bytes int, at time.Time) {
	m := strconv.FormatInt(at.Unix()/60, 10)
	kb, kh := w.s.key("bh:", site, ":", m), w.s.key("bhh:", site, ":", m)
	w.p.args("HINCRBY", kb, "bytes", strconv.Itoa(bytes))
	w.p.args("HINCRBY", kb, "frames", "1")
	w.pexpire(kb, backhaulTTL)
	w.p.args("PFADD", kh, host)
	w.pexpire(kh, backhaulTTL)
	w.p.args("SADD", w.s.key("bhsites"), site)
}

// AddIncidents queues recording incident transitions (applyIncidentSrc).
func (w *Write) AddIncidents(ctx context.Context, incs []Incident) error {
	for i := range incs {
		doc, err := json.Marshal(&incs[i])
		if err != nil {
			return fmt.Errorf("store: incident %s: %w", incs[i].Key(), err)
		}
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT, and
		// Redis caches the compiled script by its hash anyway.
		w.p.cmd(10)
		for _, a := range []string{"EVAL", applyIncidentSrc, "3", w.s.key("inc:open"), w.s.key("inc:closed"), w.s.key("inc:log"),
			incs[i].Key(), incs[i].State} {
			w.p.str(a)
		}
		w.p.bytes(doc)
		w.p.int(incs[i].Time)
	}
	return nil
}

// Exec sends everything queued in one round trip. On failure some prefix
// of the commands may have run; every caller redelivers the frames, and
// the caches it advanced are dropped so the next write starts over.
func (w *Write) Exec(ctx context.Context) error {
	if w.p.n+w.c.n == 0 {
		putBuf(w.p.buf)
		w.p = respPipe{}
		return nil
	}
	for _, k := range w.trim {
		w.c.args("ZREMRANGEBYRANK", k, "0", strconv.Itoa(-AppliedSeqs-1))
		w.c.cmd(3)
		w.c.str("PEXPIRE")
		w.c.str(k)
		w.c.int(WireStateTTL.Milliseconds())
	}
	err := w.s.execResp(ctx, &w.p, &w.c)
	putBuf(w.p.buf)
	w.p = respPipe{}
	if err != nil {
		w.s.mu.Lock()
		for _, ac := range w.touched {
			if w.s.agents[ac.name] == ac {
				delete(w.s.agents, ac.name)
			}
		}
		w.s.mu.Unlock()
		return fmt.Errorf("store: write of %d rollups: %w", w.n, err)
	}
	w.s.mu.Lock()
	for k := range w.indexed {
		w.s.indexed[k] = struct{}{}
	}
	w.s.mu.Unlock()
	for _, f := range w.fresh {
		f.ac.mu.Lock()
		f.si.known = true
		f.ac.mu.Unlock()
	}
	return nil
}
