package store

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/redis/go-redis/v9"
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
// series ids, 8 bytes each. Returns {0} when there is no log, {2,
// entries} or {1, entries} with the entries of those series (2: found by
// the layout of the first frame, 1: by a search of the whole index), or
// {0, log} with the whole log when the index does not cover it.
//
// Copying a string into the script costs Redis about 1.3 ns a byte and a
// redis.call about 0.9 µs: at the hour's end, one GET of a 450-series
// agent's 324 KB index cost 400–490 µs of Redis time, most of a
// fleet-wide query's (BenchmarkLogExtract: 447 µs per call through the
// search of the whole index, 161 µs through the layout, in one run).
// So the script first tries the layout of the agent's frames, which is
// the same from frame to frame while its series do not change: it reads
// the first frame's part of the index (up to 8 KB; 64 KB if the part is
// larger), finds each series' record position there, and then per frame
// reads only the 24 bytes around the frame's header (the previous
// frame's last record, the header) and each series' record at that
// position, checking the header marker, that each header's log length
// is the previous one's plus its frame's bytes, that the record is the
// series', and at the end that the last frame ends at the log's end.
// Any of these failing (a frame with other series or another order, a
// series absent from the first frame, a frame appended without index
// records) sends it to the search of the whole index, whose own checks
// decide between entries and the whole log as before.
const logExtractSrc = `
local n = redis.call('STRLEN', KEYS[1])
if n == 0 then return {0} end
local il = redis.call('STRLEN', KEYS[2])
if il == 0 or il % 12 ~= 0 then return {0, redis.call('GET', KEYS[1])} end
local M = string.rep('\255', 8)
local function aligned(s, pat, p, stop)
  while true do
    local q = string.find(s, pat, p, true)
    if not q or q > stop then return nil end
    if (q - 1) % 12 == 0 then return q end
    p = q + 1
  end
end
local function layout()
  local head = redis.call('GETRANGE', KEYS[2], 0, 8191)
  local per = aligned(head, M, 13, #head)
  if not per and il > #head then
    head = redis.call('GETRANGE', KEYS[2], 0, 65535)
    per = aligned(head, M, 13, #head)
  end
  if per then per = per - 1 elseif il <= #head then per = il else return nil end
  if string.sub(head, 1, 8) ~= M or struct.unpack('<I4', head, 9) ~= 0 or per < 24 or il % per ~= 0 then return nil end
  local pos = {}
  for i = 1, #ARGV do
    local q = aligned(head, ARGV[i], 13, per)
    if not q or aligned(head, ARGV[i], q + 12, per) then return nil end
    pos[i] = q - 1
  end
  local out = {}
  local hb = 0
  for base = 0, il - per, per do
    if base > 0 then
      local x = redis.call('GETRANGE', KEYS[2], base - 12, base + 11)
      if string.sub(x, 13, 20) ~= M then return nil end
      local off, len = struct.unpack('<I3B', x, 9)
      local h = struct.unpack('<I4', x, 21)
      if h ~= hb + off + len then return nil end
      hb = h
    end
    for i = 1, #ARGV do
      local r = redis.call('GETRANGE', KEYS[2], base + pos[i], base + pos[i] + 11)
      if string.sub(r, 1, 8) ~= ARGV[i] then return nil end
      local off, len = struct.unpack('<I3B', r, 9)
      out[#out+1] = redis.call('GETRANGE', KEYS[1], hb + off, hb + off + len - 1)
    end
  end
  local off, len = struct.unpack('<I3B', redis.call('GETRANGE', KEYS[2], il - 12, il - 1), 9)
  if hb + off + len ~= n then return nil end
  return out
end
local out = layout()
if out then return {2, table.concat(out)} end
local idx = redis.call('GET', KEYS[2])
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
out = {}
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

// logExtractSha is the read script's SHA1: queries send EVALSHA, not
// the script's 4 KB with each of a fleet query's hundreds of calls.
var logExtractSha = func() string {
	h := sha1.Sum([]byte(logExtractSrc))
	return hex.EncodeToString(h[:])
}()

// evalUnloaded runs again, with EVAL (which loads the script), the read
// script calls xcmds of a pipeline that failed with NOSCRIPT (a Redis
// that has not run it yet: restarted, failed over, another cluster
// node), in one pipeline, and returns the first error of any call.
func (r *Reader) evalUnloaded(ctx context.Context, xcmds []*redis.Cmd, xkeys []string, xsids [][]uint64) error {
	var pipe redis.Pipeliner
	for i, c := range xcmds {
		if c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			if pipe == nil {
				pipe = r.s.rdb.Pipeline()
			}
			xcmds[i] = pipe.Eval(ctx, logExtractSrc, xkeys[2*i:2*i+2], extractArgs(xsids[i])...)
		}
	}
	if pipe != nil {
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	for _, c := range xcmds {
		if c.Err() != nil {
			return c.Err()
		}
	}
	return nil
}

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
