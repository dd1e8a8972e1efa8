//go:build cgo && !purego

// mpsc.c: the ring behind queue_cgo.go. The algorithm is the same as
// ring_go.go's (keep them in step):
//
// Positions are 64-bit counters that never wrap in practice. tail is the
// next position producers will reserve, head the next one the consumer will
// pop; slot p&mask holds position p. A producer reserves k free positions
// with one CAS on tail (free = capacity - (tail - head)), writes the
// samples, then publishes each slot by storing seq = position+1 with release
// order. The consumer pops position p only when slot seq == p+1 (acquire),
// copies out, and after a whole batch stores head with release order, which
// is what hands the slots back to producers (they load head with acquire).
// A producer stalled between its CAS and its publish holds back the
// consumer at that position until it finishes; nobody else waits on it.

#define _POSIX_C_SOURCE 200112L

#include "mpsc.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

// 128 covers the 64-byte lines of x86 and most ARM cores and the adjacent-
// line prefetch pairs of x86 and Apple/Neoverse parts.
#define EP_CACHE_LINE 128

_Static_assert(sizeof(ep_sample) == 24, "ep_sample must be 24 bytes");
_Static_assert(offsetof(ep_sample, ts) == 0, "ep_sample.ts at 0");
_Static_assert(offsetof(ep_sample, value) == 8, "ep_sample.value at 8");
_Static_assert(offsetof(ep_sample, series) == 16, "ep_sample.series at 16");
_Static_assert(offsetof(ep_sample, flags) == 20, "ep_sample.flags at 20");

typedef struct {
	_Atomic uint64_t seq;  // position+1 once the sample for position is published
	ep_sample s;
} ep_slot;

_Static_assert(sizeof(ep_slot) == 32, "ep_slot must be 32 bytes");

struct ep_ring {
	// Read-only after ep_ring_new.
	alignas(EP_CACHE_LINE) uint64_t mask;
	ep_slot *slots;
	// Written by producers (CAS), read by the consumer only for counts.
	alignas(EP_CACHE_LINE) _Atomic uint64_t tail;
	// Written by the consumer, read by producers.
	alignas(EP_CACHE_LINE) _Atomic uint64_t head;
};

ep_ring *ep_ring_new(uint64_t capacity) {
	if (capacity == 0 || (capacity & (capacity - 1)) != 0) {
		return NULL;
	}
	if (capacity > SIZE_MAX / sizeof(ep_slot)) {
		return NULL;
	}
	void *rmem = NULL;
	if (posix_memalign(&rmem, EP_CACHE_LINE, sizeof(ep_ring)) != 0) {
		return NULL;
	}
	void *smem = NULL;
	if (posix_memalign(&smem, EP_CACHE_LINE, (size_t)capacity * sizeof(ep_slot)) != 0) {
		free(rmem);
		return NULL;
	}
	ep_ring *r = rmem;
	r->mask = capacity - 1;
	r->slots = smem;
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	for (uint64_t i = 0; i < capacity; i++) {
		// seq 0 never equals position+1, so every slot starts empty.
		atomic_init(&r->slots[i].seq, 0);
		memset(&r->slots[i].s, 0, sizeof(ep_sample));
	}
	return r;
}

void ep_ring_free(ep_ring *r) {
	if (r == NULL) {
		return;
	}
	free(r->slots);
	free(r);
}

size_t ep_push_batch(ep_ring *r, const ep_sample *src, size_t n) {
	if (n == 0) {
		return 0;
	}
	const uint64_t size = r->mask + 1;
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t k;
	for (;;) {
		// Acquire pairs with the consumer's release store of head: its
		// reads of the slots we are about to overwrite happen before.
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		uint64_t used = tail - head;
		if ((int64_t)used < 0) {
			// tail is stale (loaded before head moved past it); the CAS
			// below fails and reloads it.
			used = 0;
		}
		if (used >= size) {
			return 0;  // full (a stale tail only understates fullness)
		}
		k = size - used;
		if (k > n) {
			k = n;
		}
		if (atomic_compare_exchange_weak_explicit(&r->tail, &tail, tail + k,
		                                          memory_order_relaxed,
		                                          memory_order_relaxed)) {
			break;
		}
	}
	const uint64_t mask = r->mask;
	ep_slot *slots = r->slots;
	for (uint64_t i = 0; i < k; i++) {
		ep_slot *sl = &slots[(tail + i) & mask];
		sl->s = src[i];
		atomic_store_explicit(&sl->seq, tail + i + 1, memory_order_release);
	}
	return (size_t)k;
}

size_t ep_pop_batch(ep_ring *r, ep_sample *dst, size_t n) {
	// Only this (single) consumer writes head.
	const uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	const uint64_t mask = r->mask;
	ep_slot *slots = r->slots;
	size_t i = 0;
	// The loop cannot pass head+capacity: that position is not reservable
	// until head is stored below.
	for (; i < n; i++) {
		const uint64_t pos = head + i;
		ep_slot *sl = &slots[pos & mask];
		if (atomic_load_explicit(&sl->seq, memory_order_acquire) != pos + 1) {
			break;
		}
		dst[i] = sl->s;
	}
	if (i > 0) {
		atomic_store_explicit(&r->head, head + i, memory_order_release);
	}
	return i;
}

void ep_ring_counts(ep_ring *r, uint64_t *head, uint64_t *tail) {
	// head first: tail read afterwards is never behind it.
	*head = atomic_load_explicit(&r->head, memory_order_acquire);
	*tail = atomic_load_explicit(&r->tail, memory_order_acquire);
}
