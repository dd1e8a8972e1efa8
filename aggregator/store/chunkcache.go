package store

import (
	"container/list"
	"sync"
	"sync/atomic"

	"github.com/edgepulse/edgepulse/codec"
)

// decodedCache keeps decoded chunks across queries. Range-decoding a
// chunk costs about 0.9 µs a window and was a quarter of a host-scoped
// query's CPU (two sealed hours of 450 series decoded per query,
// testbench/capacity -query-cpuprofile); dashboards ask the same ranges
// again and again. A query still GETs every chunk (a sealed hour is
// about 150 B) and takes the cached windows only when the bytes are the
// ones they were decoded from, so a chunk that changed (a late window
// appended, a seal, a key recreated) is decoded again: the cache cannot
// answer with anything the chunk does not hold. It is bounded by the
// windows it holds (Options.DecodedCacheWindows), least recently used
// first out; the windows are shared between readers, which only read them.
type decodedCache struct {
	max int // windows; 0: off

	mu  sync.Mutex
	n   int // windows held
	m   map[string]*list.Element
	lru list.List // of *decoded, most recent first

	hits, misses, evictions atomic.Uint64
}

type decoded struct {
	key, raw string
	ws       []codec.Window
	repeats  int
}

func newDecodedCache(max int) *decodedCache {
	return &decodedCache{max: max, m: map[string]*list.Element{}}
}

// get returns the windows decoded from raw for key, if held.
func (c *decodedCache) get(key string, raw []byte) (ws []codec.Window, repeats int, ok bool) {
	if c.max <= 0 {
		return nil, 0, false
	}
	c.mu.Lock()
	e := c.m[key]
	if e != nil && e.Value.(*decoded).raw == string(raw) {
		c.lru.MoveToFront(e)
		d := e.Value.(*decoded)
		c.mu.Unlock()
		c.hits.Add(1)
		return d.ws, d.repeats, true
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return nil, 0, false
}

// put keeps ws, decoded from raw, for key, evicting the least recently
// used chunks over the bound.
func (c *decodedCache) put(key string, raw []byte, ws []codec.Window, repeats int) {
	if c.max <= 0 || len(ws) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[key]; e != nil {
		c.n -= len(e.Value.(*decoded).ws)
		c.lru.Remove(e)
	}
	c.m[key] = c.lru.PushFront(&decoded{key: key, raw: string(raw), ws: ws, repeats: repeats})
	c.n += len(ws)
	for c.n > c.max {
		e := c.lru.Back()
		d := e.Value.(*decoded)
		c.lru.Remove(e)
		delete(c.m, d.key)
		c.n -= len(d.ws)
		c.evictions.Add(1)
	}
}

// drop empties the cache.
func (c *decodedCache) drop() {
	c.mu.Lock()
	c.m, c.n = map[string]*list.Element{}, 0
	c.lru.Init()
	c.mu.Unlock()
}

// DecodedCacheStats are the decoded-chunk cache's counters: chunks found
// there (with the same bytes), chunks decoded, chunks evicted for the
// bound, and the windows it holds.
type DecodedCacheStats struct {
	Hits, Misses, Evictions uint64
	Windows                 int
}

// DecodedCacheStats returns the decoded-chunk cache's counters.
func (s *reader) DecodedCacheStats() DecodedCacheStats {
	c := s.decoded
	c.mu.Lock()
	n := c.n
	c.mu.Unlock()
	return DecodedCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), Windows: n}
}

// DropDecodedCache empties the decoded-chunk cache, so the next query
// decodes every chunk it reads (testbench/capacity measures each kind of
// query from cold).
func (s *reader) DropDecodedCache() { s.decoded.drop() }

// DefaultDecodedCacheWindows is Options.DecodedCacheWindows's default:
// 262,144 windows, about 25 MB (a window is 96 B decoded, plus the
// chunk's bytes, about 2.5 B a window): a host-scoped hour (two sealed
// hours of 450 series, 54,000 windows) of several hosts, or a fleet-wide
// metric's last hour over 2,000 hosts.
const DefaultDecodedCacheWindows = 1 << 18
