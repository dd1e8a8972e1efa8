package table

import (
	"sync"

	"github.com/dgraph-io/ristretto/v2/z"
)

// builderAlloc is the table builder's allocator. edgepulse patch: it
// never lets ristretto's z.Allocator grow. When the allocator in use is
// full it is set aside (kept until the builder is closed: its blocks are
// still referenced) and a new one of a quarter of the builder's first
// size (or what the allocation needs) takes its place.
//
// Two reasons. On a 32-bit platform a z.Allocator cannot grow: it stores
// the position of its next buffer as (bufIdx+1)<<32 computed in int, 0
// where int is 32 bits wide, so allocations went back to the start of
// the first buffer and overwrote the blocks already built there. A
// table whose data outgrew the builder's first buffer (a memtable larger
// than 2 × the table size flushed as one table, or a compaction of
// well-compressing data) was written with its first blocks zeroed or
// overwritten and read back as corrupt (armv7 under qemu: `s2: corrupt
// input`, or nothing found). And everywhere a z.Allocator grows by
// doubling: a flushed memtable a few bytes larger than the first buffer
// took twice that again, all of it resident until the table is written.
type builderAlloc struct {
	pool  *z.AllocatorPool
	tag   string
	chunk int // the size of each allocator added when one is full

	mu   sync.Mutex // the check and the allocation are one step
	cur  *z.Allocator
	full []*z.Allocator
}

// minChunk is the smallest allocator added to a full one.
const minChunk = 64 << 10

func newBuilderAlloc(pool *z.AllocatorPool, sz int, tag string) *builderAlloc {
	a := &builderAlloc{pool: pool, tag: tag, chunk: max(sz/4, minChunk), cur: pool.Get(sz, tag)}
	a.cur.Tag = tag
	return a
}

// Allocate returns sz bytes that stay valid until release.
func (a *builderAlloc) Allocate(sz int) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Only an allocator of a single buffer is ever used here (every
	// allocator in the pool came from a builder), so Size() is the
	// position in it.
	if uint64(a.cur.Size()+sz) > a.cur.Allocated() {
		a.full = append(a.full, a.cur)
		// The pool hands back any allocator it holds, whatever its
		// size: one too small for sz goes back.
		next := a.pool.Get(max(a.chunk, sz), a.tag)
		if next.Allocated() < uint64(sz) {
			a.pool.Return(next)
			next = z.NewAllocator(max(a.chunk, sz), a.tag)
		}
		a.cur = next
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
