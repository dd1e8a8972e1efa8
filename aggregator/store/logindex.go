package store

import (
	"encoding/binary"
	"fmt"
	"github.com/redis/go-redis/v9"
	"strconv"
)

// Beside each open log (openlog.go) the store keeps its *log index*
// (<p>oi:{agent}:<hour>, same hash tag, same expiry), so a query of a few
// series of the open hour fetches only their entries instead of the
// agent's whole log (up to 60 × 450 × 52 B ≈ 1.4 MB at the hour's end).
// The index is fixed 12-byte records: per appended frame a header
//
//	8 bytes 0xff, then the log's length before the frame (uint32 LE)
//
// written by the apply script (only it knows the length), then one
// record per entry of the frame, in the frame's order, made by the writer:
//
//	sid     8 bytes big-endian, as in the log
//	offset  uint24 LE, the entry's offset in the frame
//	length  uint8, the entry's bytes (sid, length, window: at most 101)
//
// The read script (logExtractSrc) finds a series' records with a plain
// substring search of its 8 sid bytes (a hit counts only at a record
// boundary) and returns their entries, cut from the log with GETRANGE,
// concatenated: a log of the same format holding only those series. It
// checks first that the index covers the whole log (each header's length
// is the previous one plus the previous frame's bytes, the last frame ends
// at the log's end); when it does not (a log written by an aggregator
// before the index, a frame too large to index, an index that expired or
// was lost), it returns the whole log, read as before.

// logIndexKey is the index of the open log of an agent's hour.
func (s *Store) logIndexKey(tag string, hour int64) string {
	return s.key("oi:", tag, ":", strconv.FormatInt(hour/HourMs, 10))
}

// maxExtractSeries is the most series a query gets from one log through
// the index; asked for more (a host-scoped selector asks for all of
// them) it reads the log whole: the script searches the index once per
// series and cuts each entry with a GETRANGE, which for hundreds of
// series costs Redis more than sending the log.
const maxExtractSeries = 16

// logIndexRecord is the size of an index record.
const logIndexRecord = 12

// maxIndexedFrame is the largest frame's entries (bytes) the index
// addresses (uint24 offsets); a larger frame is appended without its
// records and its log is read whole.
const maxIndexedFrame = 1 << 24

// appendIndexRecord appends the index record of the entry at frame[at:]
// (appendLogEntry just wrote it) to dst.
func appendIndexRecord(dst, frame []byte, at int) []byte {
	n := len(frame) - at
	dst = append(dst, frame[at:at+8]...)
	return append(dst, byte(at), byte(at>>8), byte(at>>16), byte(n))
}

// logExtractSrc is the read script. KEYS: the open log, its index. ARGV:
// series ids, 8 bytes each. Returns {0} when there is no log, {1,
// entries} with the entries of those series, or {0, log} with the whole
// log when the index does not cover it.
const logExtractSrc = `
local n = redis.call('STRLEN', KEYS[1])
if n == 0 then return {0} end
local idx = redis.call('GET', KEYS[2])
if not idx or #idx == 0 or #idx % 12 ~= 0 then return {0, redis.call('GET', KEYS[1])} end
local M = string.rep('\255', 8)
local hp, hb = {}, {}
local p = 1
while true do
  local q = string.find(idx, M, p, true)
  if not q then break end
  if (q - 1) % 12 == 0 then
    hp[#hp+1] = q
    hb[#hb+1] = struct.unpack('<I4', idx, q + 8)
    p = q + 12
  else
    p = q + 1
  end
end
if #hp == 0 or hp[1] ~= 1 then return {0, redis.call('GET', KEYS[1])} end
local expect = 0
for h = 1, #hp do
  local last = (hp[h+1] or (#idx + 1)) - 12
  if last == hp[h] or hb[h] ~= expect then return {0, redis.call('GET', KEYS[1])} end
  local off, len = struct.unpack('<I3B', idx, last + 8)
  expect = hb[h] + off + len
end
if expect ~= n then return {0, redis.call('GET', KEYS[1])} end
local out = {}
for i = 1, #ARGV do
  local s = ARGV[i]
  local h = 1
  p = 1
  while true do
    local q = string.find(idx, s, p, true)
    if not q then break end
    if (q - 1) % 12 == 0 then
      while h < #hp and hp[h+1] < q do h = h + 1 end
      local off, len = struct.unpack('<I3B', idx, q + 8)
      local at = hb[h] + off
      out[#out+1] = redis.call('GETRANGE', KEYS[1], at, at + len - 1)
      p = q + 12
    else
      p = q + 1
    end
  end
end
return {1, table.concat(out)}
`

// extractArgs are the read script's ARGV for series sids.
func extractArgs(sids []uint64) []any {
	args := make([]any, len(sids))
	for i, sid := range sids {
		args[i] = string(binary.BigEndian.AppendUint64(nil, sid))
	}
	return args
}

// extractReply decodes the read script's reply: the entries (or the
// whole log: whole), or ok false when there is no log.
func extractReply(v any) (p []byte, whole, ok bool, err error) {
	a, isArr := v.([]any)
	if !isArr || len(a) == 0 {
		return nil, false, false, fmt.Errorf("store: open log read: reply %T", v)
	}
	mode, _ := a[0].(int64)
	if len(a) == 1 {
		return nil, false, false, nil
	}
	s, isStr := a[1].(string)
	if !isStr {
		return nil, false, false, nil // the log went meanwhile
	}
	return []byte(s), mode == 0, true, nil
}

// extracted keeps the read script's reply c for log k, asked for sids:
// a whole log replaces what was read of it, entries are added to it.
func (r *Reader) extracted(k string, sids []uint64, c *redis.Cmd) error {
	p, whole, ok, err := extractReply(c.Val())
	if c.Err() != nil {
		err = c.Err()
	}
	if err != nil {
		return fmt.Errorf("store: open log %s: %w", k, err)
	}
	l, had := r.logs[k]
	switch {
	case !ok:
		if !had {
			r.logs[k] = nil
		}
	case whole:
		r.logs[k] = newLog(p)
	default:
		if l == nil {
			l = newLog(nil)
			l.got = map[uint64]bool{}
			r.logs[k] = l
		}
		l.p = append(l.p, p...)
		for _, sid := range sids {
			l.got[sid] = true
		}
	}
	return nil
}

// SetWholeLogReads makes queries read open logs whole (GET) instead of
// through their index: the layout before the index, kept to measure
// the two against each other in one run (testbench/capacity).
func (s *Store) SetWholeLogReads(on bool) { s.wholeLogs.Store(on) }
