package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/edgepulse/edgepulse/codec"
	"github.com/edgepulse/edgepulse/edge/queue"
)

// Errors a query returns; callers map them to their protocol's codes.
var (
	ErrBadRequest = errors.New("bad request")    // malformed or inconsistent request
	ErrNotFound   = errors.New("no such series") // nothing matches in the range
)

// Namer returns a series' name and label pairs (sorted by name) for the
// agent's series id; ok is false for an unknown (swept) id. It must be
// safe to call from the goroutine that calls Append.
type Namer func(id uint32) (name string, labels []string, ok bool)

// Stats are the history's counters.
type Stats struct {
	Minutes        int    `json:"minutes"`         // minutes held on disk
	Bytes          int64  `json:"bytes"`           // stored bytes (keys plus values) of the blocks held; the size keys are not counted
	Blocks         uint64 `json:"blocks"`          // series-minute blocks written
	Samples        uint64 `json:"samples"`         // samples written
	Buffered       int    `json:"buffered"`        // samples waiting in memory for their minute to end
	Late           uint64 `json:"late"`            // samples for a minute already written (not kept)
	DroppedMinutes uint64 `json:"dropped_minutes"` // minutes deleted because MaxBytes was reached
	DroppedBytes   int64  `json:"dropped_bytes"`   // their bytes
	ExpiredMinutes uint64 `json:"expired_minutes"` // minutes deleted because they passed Retention
	Errors         uint64 `json:"errors"`          // failed writes, deletes and unreadable blocks
	DiskDropped    uint64 `json:"disk_dropped"`    // samples not written because the disk was near its reserve
}

const keyPrefix = 'h'

// grace is how long after a minute ends its samples may still arrive
// before the minute is written.
const grace = 2 * time.Second

type seriesBuf struct {
	key    []byte // name \0 label \0 value \0 …
	ts     []int64
	vs     []float64
	recent bool // had a sample since the last flush
}

// History keeps raw samples in Badger. See the package doc.
type History struct {
	db    *badger.DB
	opts  Options
	name  Namer
	log   *slog.Logger
	start int64 // minute the history was opened in: earlier blocks may be merged into

	mu      sync.Mutex
	bufs    []*seriesBuf    // by series id
	cutoff  int64           // Unix ms: samples before it have been written
	minutes map[int64]int64 // bytes of each stored minute, as its size key holds them
	touched []int64         // minutes the current flush wrote
	opened  openStats
	st      Stats
	scratch []byte

	room     Room // nil: no free-space check
	diskFull bool // the last check found no room (logged once)
	warned   bool // the 80 % warning was logged and the bytes have not gone below 70 % since
}

// New opens the history kept in db (which the caller owns and closes after
// Close). It reads the stored minutes' sizes from their size keys
// (sizes.go), and recounts block by block only the newest minutes, which
// a crash may have left without one.
func New(db *badger.DB, opts Options, name Namer, log *slog.Logger) (*History, error) {
	return NewAt(db, opts, name, log, time.Now())
}

// NewAt is New with the clock at now: samples from the minute of now on
// are taken, older ones are late. The agent uses New; NewAt lets a bench
// (testbench/benchagent -seed-history) write a past day through the same
// code, passing its simulated time here and to Flush.
func NewAt(db *badger.DB, opts Options, name Namer, log *slog.Logger, now time.Time) (*History, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	h := &History{db: db, opts: opts, name: name, log: log, minutes: make(map[int64]int64),
		start: now.Unix() / 60, cutoff: minuteFloor(now.Add(-grace).UnixMilli())}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.loadSizesLocked(); err != nil {
		return nil, err
	}
	h.enforceLocked(now)
	return h, nil
}

func minuteFloor(ms int64) int64 {
	m := ms / 60000 * 60000
	if ms < 0 && m != ms {
		m -= 60000
	}
	return m
}

// SeriesKey encodes a series identity: name, then label pairs, each
// followed by a NUL.
func SeriesKey(dst []byte, name string, labels []string) []byte {
	dst = append(dst, name...)
	dst = append(dst, 0)
	for _, l := range labels {
		dst = append(dst, l...)
		dst = append(dst, 0)
	}
	return dst
}

func blockKey(dst []byte, minute int64, series []byte) []byte {
	dst = append(dst, keyPrefix)
	dst = binary.BigEndian.AppendUint64(dst, uint64(minute))
	return append(dst, series...)
}

func parseKey(k []byte) (minute int64, series []byte, ok bool) {
	if len(k) < 10 || k[0] != keyPrefix {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(k[1:9])), k[9:], true
}

// splitSeries decodes a series key into name and label pairs.
func splitSeries(k []byte) (name string, labels []string, ok bool) {
	if len(k) == 0 || k[len(k)-1] != 0 {
		return "", nil, false
	}
	parts := strings.Split(string(k[:len(k)-1]), "\x00")
	if len(parts)%2 != 1 {
		return "", nil, false
	}
	return parts[0], parts[1:], true
}

// Append buffers a batch of samples. Samples of series the Namer does not
// know are ignored; samples for minutes already written are counted late.
func (h *History) Append(samples []queue.Sample) {
	h.mu.Lock()
	for _, s := range samples {
		if s.TS < h.cutoff {
			h.st.Late++
			continue
		}
		id := int(s.Series)
		if id >= len(h.bufs) {
			need := max(id+1, 2*len(h.bufs))
			h.bufs = slices.Grow(h.bufs, need-len(h.bufs))[:need]
		}
		b := h.bufs[id]
		if b == nil {
			name, labels, ok := h.name(s.Series)
			if !ok {
				continue
			}
			b = &seriesBuf{key: SeriesKey(nil, name, labels), ts: make([]int64, 0, 64), vs: make([]float64, 0, 64)}
			h.bufs[id] = b
		}
		b.ts = append(b.ts, s.TS)
		b.vs = append(b.vs, s.Value)
		b.recent = true
		h.st.Buffered++
	}
	h.mu.Unlock()
}

// Flush writes every buffered minute that ended at least 2 s before now
// and applies the retention and the byte bound. It is cheap when no minute
// ended since the last call. force writes everything buffered (at
// shutdown); a later run merges into the partial minute.
func (h *History) Flush(now time.Time, force bool) error {
	cut := minuteFloor(now.Add(-grace).UnixMilli())
	h.mu.Lock()
	defer h.mu.Unlock()
	if cut <= h.cutoff && !force {
		return nil
	}
	if force {
		cut = max(cut, now.UnixMilli()+1)
	}
	if !h.roomLocked(cut) {
		h.enforceLocked(now)
		return nil
	}
	wb := h.db.NewWriteBatch()
	defer wb.Cancel()
	var werr error
	for id, b := range h.bufs {
		if b == nil {
			continue
		}
		i := 0
		for i < len(b.ts) && b.ts[i] < cut {
			m := minuteFloor(b.ts[i])
			j := i
			for j < len(b.ts) && b.ts[j] < min(cut, m+60000) {
				j++
			}
			if err := h.writeBlockLocked(wb, m, b, i, j); err != nil && werr == nil {
				werr = err
			}
			i = j
		}
		h.st.Buffered -= i
		b.ts = b.ts[:copy(b.ts, b.ts[i:])]
		b.vs = b.vs[:copy(b.vs, b.vs[i:])]
		if !b.recent && len(b.ts) == 0 {
			h.bufs[id] = nil // gone quiet (swept): forget it
			continue
		}
		b.recent = false
	}
	if err := h.writeSizesLocked(wb); err != nil && werr == nil {
		werr = err
	}
	if err := wb.Flush(); err != nil && werr == nil {
		werr = fmt.Errorf("history: writing minutes before %s: %w", time.UnixMilli(cut).UTC(), err)
	}
	h.cutoff = max(h.cutoff, minuteFloor(cut))
	if force {
		h.cutoff = cut
	}
	h.enforceLocked(now)
	h.warnLocked()
	if werr != nil {
		h.st.Errors++
	}
	return werr
}

// writeBlockLocked adds the block of b's samples [i, j) (all in minute m)
// to wb, merging with a stored block when the minute may have been written
// by an earlier run.
func (h *History) writeBlockLocked(wb *badger.WriteBatch, m int64, b *seriesBuf, i, j int) error {
	minute := m / 60000
	key := blockKey(nil, minute, b.key)
	ts, vs := b.ts[i:j], b.vs[i:j]
	if minute <= h.start {
		var old []byte
		err := h.db.View(func(txn *badger.Txn) error {
			it, err := txn.Get(key)
			if err != nil {
				return err
			}
			old, err = it.ValueCopy(nil)
			return err
		})
		if err == nil {
			ots, ovs, derr := decodeBlock(old, m, nil, nil)
			if derr == nil {
				ts, vs = mergeSamples(ots, ovs, ts, vs)
				h.minutes[minute] -= int64(len(key) + len(old))
				h.st.Bytes -= int64(len(key) + len(old))
			}
		}
	}
	h.scratch = appendBlock(h.scratch[:0], m, ts, vs)
	val := bytes.Clone(h.scratch)
	if err := wb.Set(key, val); err != nil {
		return fmt.Errorf("history: write %s minute %d: %w", b.key, minute, err)
	}
	if _, ok := h.minutes[minute]; !ok {
		h.st.Minutes++
	}
	h.noteTouchedLocked(minute)
	h.minutes[minute] += int64(len(key) + len(val))
	h.st.Bytes += int64(len(key) + len(val))
	h.st.Blocks++
	h.st.Samples += uint64(len(ts))
	return nil
}

// mergeSamples merges two time-ordered sample lists; on equal timestamps
// the second wins.
func mergeSamples(ats []int64, avs []float64, bts []int64, bvs []float64) ([]int64, []float64) {
	ts := make([]int64, 0, len(ats)+len(bts))
	vs := make([]float64, 0, len(ats)+len(bts))
	i, j := 0, 0
	for i < len(ats) || j < len(bts) {
		switch {
		case j == len(bts) || i < len(ats) && ats[i] < bts[j]:
			ts, vs = append(ts, ats[i]), append(vs, avs[i])
			i++
		default:
			if i < len(ats) && ats[i] == bts[j] {
				i++
			}
			ts, vs = append(ts, bts[j]), append(vs, bvs[j])
			j++
		}
	}
	return ts, vs
}

// enforceLocked deletes minutes past retention and, oldest first, minutes
// over the byte bound.
func (h *History) enforceLocked(now time.Time) {
	if len(h.minutes) == 0 {
		return
	}
	oldestKept := now.Add(-h.opts.Retention).Unix() / 60
	ms := make([]int64, 0, len(h.minutes))
	for m := range h.minutes {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	for _, m := range ms {
		expired := m < oldestKept
		if !expired && h.st.Bytes <= h.opts.MaxBytes {
			break
		}
		if err := h.deleteMinute(m); err != nil {
			h.st.Errors++
			h.log.Warn("history: deleting a minute", "minute", time.Unix(m*60, 0).UTC(), "err", err)
			return
		}
		b := h.minutes[m]
		delete(h.minutes, m)
		h.st.Minutes--
		h.st.Bytes -= b
		if expired {
			h.st.ExpiredMinutes++
		} else {
			h.st.DroppedMinutes++
			h.st.DroppedBytes += b
		}
	}
}

// deleteMinute deletes one minute's keys in a write batch (DropPrefix
// would stall every writer of the database, the spool included), its size
// key last: a crash in between leaves a size key without blocks, which
// the next enforce deletes again (the minute is still the oldest).
func (h *History) deleteMinute(m int64) error {
	prefix := binary.BigEndian.AppendUint64([]byte{keyPrefix}, uint64(m))
	wb := h.db.NewWriteBatch()
	defer wb.Cancel()
	err := h.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := wb.Delete(sizeKey(m)); err != nil {
		return err
	}
	return wb.Flush()
}

// Stats returns the counters.
func (h *History) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// Close writes the buffered samples.
func (h *History) Close() error { return h.Flush(time.Now(), true) }

// Query answers a request from the stored minutes and the buffered one.
// Errors wrap ErrBadRequest or ErrNotFound. A limit above
// Options.MaxPoints is lowered to it (the answer then says Truncated).
func (h *History) Query(req codec.HistoryRequest, now time.Time) (codec.HistoryResponse, error) {
	var resp codec.HistoryResponse
	switch {
	case req.Name == "":
		return resp, fmt.Errorf("%w: name must be set", ErrBadRequest)
	case req.Limit < 0:
		return resp, fmt.Errorf("%w: limit %d must be ≥ 0", ErrBadRequest, req.Limit)
	case strings.IndexByte(req.Name, 0) >= 0:
		return resp, fmt.Errorf("%w: name must not contain NUL", ErrBadRequest)
	}
	end, start := req.End, req.Start
	if end == 0 {
		end = now.UnixMilli()
	}
	if start == 0 {
		start = end - time.Hour.Milliseconds()
	}
	if start > end {
		return resp, fmt.Errorf("%w: start %d is after end %d", ErrBadRequest, start, end)
	}
	limit := req.Limit
	if limit == 0 || limit > h.opts.MaxPoints {
		limit = h.opts.MaxPoints // an answer must fit a NATS message: cut, and say so
	}
	if oldest := now.Add(-h.opts.Retention).UnixMilli(); start < oldest {
		start = minuteFloor(oldest)
	}
	matches := func(labels []string) bool {
		for k, v := range req.Matchers {
			found := false
			for i := 0; i+1 < len(labels); i += 2 {
				if labels[i] == k {
					found = labels[i+1] == v
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	type acc struct {
		labels []string
		pts    []codec.Point
	}
	found := map[string]*acc{}
	total := 0
	add := func(skey []byte, labels []string, ts []int64, vs []float64) {
		a := found[string(skey)]
		if a == nil {
			a = &acc{labels: labels}
			found[string(skey)] = a
		}
		for i, t := range ts {
			if t < start || t > end {
				continue
			}
			if total >= limit {
				resp.Truncated = true
				return
			}
			a.pts = append(a.pts, codec.Point{TS: t, Value: vs[i]})
			total++
		}
	}
	namePrefix := append([]byte(req.Name), 0)
	// The buffered samples first, then the minutes written before that
	// snapshot's cutoff: a flush in between cannot duplicate or lose any.
	type buffered struct {
		key    []byte
		labels []string
		ts     []int64
		vs     []float64
	}
	var mem []buffered
	h.mu.Lock()
	cutoff := h.cutoff
	if end >= cutoff {
		for _, b := range h.bufs {
			if b == nil || !bytes.HasPrefix(b.key, namePrefix) || len(b.ts) == 0 {
				continue
			}
			if _, labels, ok := splitSeries(b.key); ok && matches(labels) {
				mem = append(mem, buffered{b.key, labels, slices.Clone(b.ts), slices.Clone(b.vs)})
			}
		}
	}
	h.mu.Unlock()
	var ts []int64
	var vs []float64
	var qerr error
	if start < cutoff {
		qerr = h.db.View(func(txn *badger.Txn) error {
			for m := minuteFloor(start) / 60000; m <= min(end, cutoff-1)/60000 && !resp.Truncated; m++ {
				prefix := blockKey(nil, m, namePrefix)
				it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
				for it.Rewind(); it.Valid(); it.Next() {
					_, skey, _ := parseKey(it.Item().Key())
					_, labels, ok := splitSeries(skey)
					if !ok || !matches(labels) {
						continue
					}
					val, err := it.Item().ValueCopy(nil)
					if err != nil {
						it.Close()
						return err
					}
					ts, vs, err = decodeBlock(val, m*60000, ts[:0], vs[:0])
					if err != nil {
						h.mu.Lock()
						h.st.Errors++
						h.mu.Unlock()
						h.log.Warn("history: unreadable block skipped", "series", string(skey), "minute", time.Unix(m*60, 0).UTC(), "err", err)
						continue
					}
					add(skey, labels, ts, vs)
				}
				it.Close()
			}
			return nil
		})
	}
	if qerr != nil {
		return resp, fmt.Errorf("history: reading %s: %w", req.Name, qerr)
	}
	for _, b := range mem {
		add(b.key, b.labels, b.ts, b.vs)
	}
	keys := make([]string, 0, len(found))
	for k, a := range found {
		if len(a.pts) > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return resp, fmt.Errorf("%w: %s%s between %d and %d", ErrNotFound, req.Name, matcherString(req.Matchers), start, end)
	}
	slices.Sort(keys)
	for _, k := range keys {
		a := found[k]
		lm := make(map[string]string, len(a.labels)/2)
		for i := 0; i+1 < len(a.labels); i += 2 {
			lm[a.labels[i]] = a.labels[i+1]
		}
		resp.Series = append(resp.Series, codec.HistorySeries{Name: req.Name, Labels: lm, Points: a.pts})
	}
	return resp, nil
}

func matcherString(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}
