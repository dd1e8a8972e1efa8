package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgepulse/edgepulse/codec"
)

// writer is the Store's write side: it starts Writes (write.go, seal.go)
// and remembers across them each agent's series (agentSeries), so index
// entries are written once an hour and an hour is sealed once. It also
// reads an agent's wire state back (wire.go).
type writer struct {
	*conn
	mu sync.Mutex
	// agents caches each agent's series (write.go): ids, keys, the hour
	// blocks written and whether the index entries are written.
	agents  map[string]*agentSeries
	forgets atomic.Uint64
}

// agentSeries caches what the store derives from one agent's series
// dictionary (labels, series id, key names). Frames of one agent are
// applied by one partition consumer at a time; mu guards the rare
// overlap.
type agentSeries struct {
	mu         sync.Mutex
	name       string // the agent
	site, host string
	tag        string // {agent}
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
	num    uint64 // sid as a number (the open log's entries)
	known  bool   // index entries written this hour
	queued bool   // index entries queued in a Write not executed yet
	// hour is the start of the newest hour a window was written for.
	hour int64
}

// NewWrite starts an empty Write.
func (s *writer) NewWrite() *Write {
	return &Write{s: s, now: time.Now(), last: map[string]*frameWrite{}}
}

func (s *writer) agentCache(b *codec.Batch) *agentSeries {
	s.mu.Lock()
	defer s.mu.Unlock()
	ac := s.agents[b.Agent]
	if ac == nil || ac.site != b.Site || ac.host != b.Host {
		ac = &agentSeries{name: b.Agent, site: b.Site, host: b.Host, tag: tag(b.Site + "/" + b.Host), byID: make(map[uint32]*seriesInfo)}
		s.agents[b.Agent] = ac
	}
	return ac
}

// getBlocks reads, in one round trip, the hour's open log (withLog), the
// hour's chunk of each series and, with day ≥ 0, the day's hourly chunk
// (nil where there is none).
func (s *writer) getBlocks(ctx context.Context, tag string, sids []string, hour, day int64, withLog bool) (log []byte, hours, days [][]byte, err error) {
	pipe := s.rdb.Pipeline()
	var lcmd *redis.StringCmd
	if withLog {
		lcmd = pipe.Get(ctx, s.logKey(tag, hour))
	}
	cmds := make([]*redis.StringCmd, len(sids))
	var dcmds []*redis.StringCmd
	for i, sid := range sids {
		cmds[i] = pipe.Get(ctx, s.chunkKey(tag, sid, hour))
	}
	if day >= 0 {
		dcmds = make([]*redis.StringCmd, len(sids))
		for i, sid := range sids {
			dcmds[i] = pipe.Get(ctx, s.hourlyKey(tag, sid, day))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, nil, err
	}
	bs := func(cs []*redis.StringCmd) [][]byte {
		out := make([][]byte, len(sids))
		if cs == nil {
			return out
		}
		for i, c := range cs {
			if b, err := c.Bytes(); err == nil {
				out[i] = b
			}
		}
		return out
	}
	if lcmd != nil {
		log, _ = lcmd.Bytes()
	}
	return log, bs(cmds), bs(dcmds), nil
}

// ForgetWrites drops what the store remembers of past writes (which
// series are indexed, which hour each agent is in), so the next write of
// every agent writes its index entries again and seals from what Redis
// holds. Writes are idempotent, so forgetting costs only those writes.
func (s *writer) ForgetWrites() {
	s.mu.Lock()
	clear(s.agents)
	s.mu.Unlock()
	s.forgets.Add(1)
}

// Forgets counts ForgetWrites calls: failed writes and probes that found
// writes lost.
func (s *writer) Forgets() uint64 { return s.forgets.Load() }
