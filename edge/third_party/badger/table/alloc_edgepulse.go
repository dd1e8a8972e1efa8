package table

import (
	"strconv"
	"sync"

	"github.com/dgraph-io/ristretto/v2/z"
)

// builderAlloc is the table builder's allocator. edgepulse patch: on a
// 32-bit platform ristretto's z.Allocator cannot grow. When a buffer is
// full it adds the next one and stores the position (bufIdx+1)<<32
// computed in int, which is 0 where int is 32 bits wide: allocations go
// back to the start of the first buffer and overwrite the blocks already
// built there. A table whose data outgrew the builder's first buffer (a
// memtable larger than 2 × the table size flushed as one table, or a
// compaction of well-compressing data) was written with its first
// blocks zeroed or overwritten, and read back as corrupt (armv7 under
// qemu: `s2: corrupt input`, or nothing found). Here, on 32-bit, a full
// allocator is set aside (kept until the builder is closed: its blocks
// are still referenced) and a new one, twice the size, takes its place;
// the ristretto allocator never grows. On 64-bit it is the allocator as
// upstream uses it.
type builderAlloc struct {
	pool *z.AllocatorPool
	tag  string

	mu   sync.Mutex // 32-bit only: the check and the allocation are one step
	cur  *z.Allocator
	full []*z.Allocator
}

const is32bit = strconv.IntSize == 32

func newBuilderAlloc(pool *z.AllocatorPool, sz int, tag string) *builderAlloc {
	a := &builderAlloc{pool: pool, tag: tag, cur: pool.Get(sz, tag)}
	a.cur.Tag = tag
	return a
}

// Allocate returns sz bytes that stay valid until release.
func (a *builderAlloc) Allocate(sz int) []byte {
	if !is32bit {
		return a.cur.Allocate(sz)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if uint64(a.cur.Size()+sz) > a.cur.Allocated() {
		next := 2 * int(a.cur.Allocated())
		if next < sz {
			next = sz
		}
		a.full = append(a.full, a.cur)
		a.cur = a.pool.Get(next, a.tag)
		a.cur.Tag = a.tag
	}
	return a.cur.Allocate(sz)
}

// release gives every allocator back to the pool.
func (a *builderAlloc) release() {
	for _, f := range a.full {
		a.pool.Return(f)
	}
	a.full = nil
	a.pool.Return(a.cur)
}
