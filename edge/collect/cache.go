package collect

// pruneEvery is how many cycles a cache entry may go unseen before it is
// dropped (and how often caches look for such entries).
const pruneEvery = 256

// nameCache maps names read every cycle (devices, interfaces, mount lines,
// field names) to values built from them once: label strings, metric names,
// filter decisions. Lookups by []byte do not allocate. Entries unseen for
// pruneEvery cycles are dropped, so churn (hot-plugged disks, container
// interfaces and mounts) does not grow it without bound.
type nameCache[V any] struct {
	m     map[string]*cacheEntry[V]
	cycle uint32
}

type cacheEntry[V any] struct {
	v    V
	seen uint32
}

// get returns the value for key, building it with build on first sight.
func (c *nameCache[V]) get(key []byte, build func(string) V) V {
	if e, ok := c.m[string(key)]; ok {
		e.seen = c.cycle
		return e.v
	}
	if c.m == nil {
		c.m = make(map[string]*cacheEntry[V])
	}
	k := string(key)
	e := &cacheEntry[V]{v: build(k), seen: c.cycle}
	c.m[k] = e
	return e.v
}

// endCycle ends a collection cycle; now and then it drops stale entries.
func (c *nameCache[V]) endCycle() {
	c.cycle++
	if c.cycle%pruneEvery != 0 {
		return
	}
	for k, e := range c.m {
		if c.cycle-e.seen > pruneEvery {
			delete(c.m, k)
		}
	}
}

// len is the number of cached entries.
func (c *nameCache[V]) len() int { return len(c.m) }
