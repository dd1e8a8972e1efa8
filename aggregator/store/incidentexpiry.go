package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The open incidents' bounds (Options.IncidentOpenMaxAge and
// IncidentOpenMax). An incident leaves {inc}open when its close arrives;
// a close that never comes (a host removed for good, an agent whose disk
// died, a close dropped) would keep it there for ever. So the store
// closes it itself, as expired: when its newest event is older than the
// max age, or, past the cap, the oldest first. An expiry is a close like
// the agent's: the key leaves {inc}open and {inc}openat, joins {inc}shut
// (so a redelivered open does not reopen it) and {inc}expired (so a late
// real close is recognised and counted), and the log gets a close event
// with Expired and Reason saying why, at the time of the expiry.
const (
	DefaultIncidentOpenMaxAge = 7 * 24 * time.Hour
	DefaultIncidentOpenMax    = 10_000
)

// expireBatch is how many open incidents one expiry script considers.
const expireBatch = 256

// expireIncidentSrc closes open incidents as expired, each only if it
// is still open with the document the caller read (HGET equals it: no
// event came since) and still past its bound, checked here: for 'age'
// (ARGV[1]) its openat score is at most ARGV[2]; for 'cap' more than
// ARGV[2] incidents are open. So a close (or newer event) that arrives
// between the caller's read and the script wins, and two members
// sweeping at once expire each incident once and never below the cap.
// KEYS: open, openat, log, shut, expired. ARGV: mode, bound, now (Unix
// ms), the log's oldest time kept, its max events, then (key, document
// read, close event or "", closed-key score) per incident, oldest first.
// It returns {incidents expired, log events trimmed, then the place
// (1-based) among the candidates of each incident expired}.
var expireIncidentSrc = `
local open, openat, log, shut, expired = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local mode, bound, now, oldest = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local n = 0
local done = {}
for i = 6, #ARGV, 4 do
  local key = ARGV[i]
  local cur = redis.call('HGET', open, key)
  if not cur then
    redis.call('ZREM', openat, key)
  elseif cur == ARGV[i+1] then
    local due
    if mode == 'age' then
      local sc = redis.call('ZSCORE', openat, key)
      due = sc and tonumber(sc) <= bound
    else
      due = redis.call('HLEN', open) > bound
    end
    if due then
      redis.call('HDEL', open, key)
      redis.call('ZREM', openat, key)
      if ARGV[i+2] ~= '' then redis.call('ZADD', log, now, ARGV[i+2]) end
      redis.call('ZADD', shut, 'GT', ARGV[i+3], key)
      redis.call('ZADD', expired, now, key)
      n = n + 1
      done[n] = (i - 2) / 4
    end
  end
end
` + trimIncidentsLua(5) + `return {n, trimmed, unpack(done)}
`

// backfillOpenAtSrc scores open incidents that openat lacks (written
// before it existed) by their newest event's time: KEYS open, openat;
// ARGV (key, time) pairs. Only a key still open is scored, and never
// over a score the incident script wrote meanwhile (NX).
const backfillOpenAtSrc = `
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], 'NX', ARGV[i+1], ARGV[i])
  end
end
return 0
`

// OpenExpiry is what one ExpireOpenIncidents did.
type OpenExpiry struct {
	Age, Cap int // incidents closed as expired by age and by the cap
	Open     int // incidents open after it
	// Closed are the close events written for them (those whose open
	// document decoded), to republish.
	Closed []Incident
}

// ExpireOpenIncidents closes, as expired, the open incidents whose newest
// event is older than now minus redis.incident_open_max_age, then the
// oldest past redis.incident_open_max. Every member runs it (health's
// loop); concurrent runs, and closes arriving meanwhile, are safe (see
// expireIncidentSrc). What it closes is counted (IncidentsExpired).
func (s *incidentLog) ExpireOpenIncidents(ctx context.Context, now time.Time) (OpenExpiry, error) {
	return expireOpen(ctx, s.conn, now, true)
}

// IncidentsExpired is the number of open incidents this store closed as
// expired since it opened, by age and by the cap.
func (s *incidentLog) IncidentsExpired() (age, capped uint64) {
	return s.incExpiredAge.Load(), s.incExpiredCap.Load()
}

// IncidentCapErrors is the number of writes past
// redis.incident_open_max whose expiry failed (the write itself did not;
// the periodic sweep expires what it left).
func (s *incidentLog) IncidentCapErrors() uint64 { return s.incCapErrs.Load() }

// IncidentLateEvents is the number of incident events applied for an
// incident already closed as expired (a late close, a redelivered open):
// neither reopens it.
func (s *incidentLog) IncidentLateEvents() uint64 { return s.incLate.Load() }

// expireOpen runs the age bound (when age) and the cap.
func expireOpen(ctx context.Context, c *conn, now time.Time, age bool) (OpenExpiry, error) {
	var out OpenExpiry
	open, openat := c.key(incidentTag, "open"), c.key(incidentTag, "openat")
	if err := backfillOpenAt(ctx, c); err != nil {
		return out, err
	}
	if age {
		cutoff := strconv.FormatInt(now.Add(-c.opts.IncidentOpenMaxAge).UnixMilli(), 10)
		for {
			keys, err := c.rdb.ZRangeByScore(ctx, openat, &redis.ZRangeBy{Min: "-inf", Max: cutoff, Count: expireBatch}).Result()
			if err != nil {
				return out, fmt.Errorf("store: open incidents past their max age: %w", err)
			}
			n, err := expireKeys(ctx, c, keys, "age", cutoff, now, &out.Closed)
			out.Age += n
			if err != nil {
				return out, err
			}
			if len(keys) < expireBatch || n == 0 {
				break
			}
		}
	}
	for {
		n, err := c.rdb.HLen(ctx, open).Result()
		if err != nil {
			return out, fmt.Errorf("store: open incidents: %w", err)
		}
		out.Open = int(n)
		over := int(n) - c.opts.IncidentOpenMax
		if over <= 0 {
			return out, nil
		}
		keys, err := c.rdb.ZRange(ctx, openat, 0, int64(min(over, expireBatch)-1)).Result()
		if err != nil {
			return out, fmt.Errorf("store: oldest open incidents: %w", err)
		}
		k, err := expireKeys(ctx, c, keys, "cap", strconv.Itoa(c.opts.IncidentOpenMax), now, &out.Closed)
		out.Cap += k
		if err != nil {
			return out, err
		}
		if k == 0 {
			// Nothing was due any more: another member expired them, or
			// events came for them (no longer the oldest). The next
			// sweep or write looks again.
			return out, nil
		}
	}
}

// expireKeys reads the open documents of keys and runs the expiry script
// on them; it returns how many it expired and counts them, and appends
// their close events to closed.
func expireKeys(ctx context.Context, c *conn, keys []string, mode, bound string, now time.Time, closed *[]Incident) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	open := c.key(incidentTag, "open")
	docs, err := c.rdb.HMGet(ctx, open, keys...).Result()
	if err != nil {
		return 0, fmt.Errorf("store: open incidents to expire: %w", err)
	}
	return runExpiry(ctx, c, keys, docs, mode, bound, now, closed)
}

// runExpiry runs the expiry script on keys whose open documents were
// read as docs (nil: not open), counts what it expired and appends their
// close events to closed (nil: not wanted).
func runExpiry(ctx context.Context, c *conn, keys []string, docs []any, mode, bound string, now time.Time, closed *[]Incident) (int, error) {
	open := c.key(incidentTag, "open")
	args := []any{mode, bound, now.UnixMilli(), now.Add(-c.opts.IncidentLogRetention).UnixMilli(), c.opts.IncidentLogMax}
	events := make([]*Incident, len(keys))
	for i, k := range keys {
		doc, _ := docs[i].(string) // nil: closed since; the script drops its openat entry
		ev, closeDoc, shutAt := expiryClose(doc, mode, now, c.opts)
		events[i] = ev
		args = append(args, k, doc, closeDoc, shutAt)
	}
	r, err := c.rdb.Eval(ctx, expireIncidentSrc, []string{open, c.key(incidentTag, "openat"), c.key(incidentTag, "log"),
		c.key(incidentTag, "shut"), c.key(incidentTag, "expired")}, args...).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("store: expiring %d open incidents: %w", len(keys), err)
	}
	if len(r) < 2 || int64(len(r)) != 2+r[0] {
		return 0, fmt.Errorf("store: expiring %d open incidents: the script answered %v, want the count, the trimmed and the places expired", len(keys), r)
	}
	for _, p := range r[2:] {
		if p >= 1 && p <= int64(len(events)) && events[p-1] != nil && closed != nil {
			*closed = append(*closed, *events[p-1])
		}
	}
	if mode == "age" {
		c.incExpiredAge.Add(uint64(r[0]))
	} else {
		c.incExpiredCap.Add(uint64(r[0]))
	}
	c.incTrimmed.Add(uint64(r[1]))
	return int(r[0]), nil
}

// expiryClose is the close event of an expired incident whose open
// document is doc, as a value and as JSON, and the score of its closed
// key: the later of now and its last event, so the closed key outlives
// any replay of that event. A document that does not decode gets no
// event (nil, ""; there is nothing to say of it) but is still removed.
func expiryClose(doc, mode string, now time.Time, o Options) (*Incident, string, int64) {
	var in Incident
	if doc == "" || json.Unmarshal([]byte(doc), &in) != nil {
		return nil, "", now.UnixMilli()
	}
	last := in.Time
	in.State, in.Time, in.Expired = "closed", now.UnixMilli(), mode
	in.Context, in.ContextStart, in.ContextStepMs = nil, 0, 0
	if mode == "age" {
		in.Reason = fmt.Sprintf("expired: no event since %s, longer than redis.incident_open_max_age %v",
			time.UnixMilli(last).UTC().Format(time.RFC3339), o.IncidentOpenMaxAge)
	} else {
		in.Reason = fmt.Sprintf("expired: more than redis.incident_open_max %d incidents open; this was among the oldest", o.IncidentOpenMax)
	}
	b, err := json.Marshal(&in)
	if err != nil {
		return nil, "", max(now.UnixMilli(), last)
	}
	return &in, string(b), max(now.UnixMilli(), last)
}

// backfillOpenAt gives openat a score for every open incident it lacks
// (those written before it existed): the time of its document, or 0 for
// one that does not decode, so the age bound removes it. It does nothing
// when openat holds as many members as open.
func backfillOpenAt(ctx context.Context, c *conn) error {
	open, openat := c.key(incidentTag, "open"), c.key(incidentTag, "openat")
	nOpen, err := c.rdb.HLen(ctx, open).Result()
	if err != nil {
		return fmt.Errorf("store: open incidents: %w", err)
	}
	nAt, err := c.rdb.ZCard(ctx, openat).Result()
	if err != nil {
		return fmt.Errorf("store: open incidents by time: %w", err)
	}
	if nAt >= nOpen {
		return nil
	}
	var cursor uint64
	for {
		kv, next, err := c.rdb.HScan(ctx, open, cursor, "", expireBatch).Result()
		if err != nil {
			return fmt.Errorf("store: scanning open incidents: %w", err)
		}
		keys := make([]string, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			keys = append(keys, kv[i])
		}
		if len(keys) > 0 {
			scores, err := c.rdb.ZMScore(ctx, openat, keys...).Result()
			if err != nil {
				return fmt.Errorf("store: open incidents by time: %w", err)
			}
			var args []any
			for i := 0; i+1 < len(kv); i += 2 {
				if scores[i/2] != 0 {
					continue // scored (ZMSCORE answers 0 for a missing member; no event is at time 0)
				}
				var in Incident
				ts := int64(0)
				if json.Unmarshal([]byte(kv[i+1]), &in) == nil {
					ts = in.Time
				}
				args = append(args, kv[i], ts)
			}
			if len(args) > 0 {
				if err := c.rdb.Eval(ctx, backfillOpenAtSrc, []string{open, openat}, args...).Err(); err != nil {
					return fmt.Errorf("store: scoring %d open incidents by time: %w", len(args)/2, err)
				}
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}
