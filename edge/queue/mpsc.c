//go:build cgo && !purego

// mpsc.c: the ring behind ring_cgo.go. ring_go.go implements the same
// algorithm with sync/atomic; keep the two in step.
//
// Positions are 64-bit counters that never wrap in practice; position p
// lives in slot p&mask. tail is the next position producers will reserve,
// head the next one the consumer will pop.
//
// Push: a producer loads head (acquire), computes free = capacity -
// (tail - head) and reserves k = min(n, free) positions [p, p+k) with one
// CAS on tail. It memcpy's its samples into the reserved slots (two pieces
// when the range wraps) and then publishes the whole reservation with one
// release store: seq[p&mask] = p+k, the end of the reservation, written in
// the reservation's first slot only.
//
// Pop: reservations tile the positions, so the consumer is always either
// inside a reservation it has seen published (head < end, where end is
// consumer-private) or at the start of the next one. There it loads
// seq[head&mask] (acquire): a value > head is that reservation's end; any
// older value is <= head (an earlier lap's reservation starting at
// head-j*capacity ends by head), so "v > head" means published. It memcpy's
// what dst can take and, once per call, stores head (release), which hands
// the slots back to producers.
//
// So a batch costs one CAS and one release store to push and one acquire
// load and one release store to pop, plus memcpy, whatever its size. A
// producer stalled between its CAS and its publish holds the consumer at its
// reservation until it finishes; producers never wait for one another.

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

struct ep_ring {
	// Read-only after ep_ring_new.
	alignas(EP_CACHE_LINE) uint64_t mask;
	ep_sample *data;       // capacity samples
	_Atomic uint64_t *seq; // capacity words; seq[p&mask] = end of the reservation starting at p
	// Written by producers (CAS), read by the consumer only for counts.
	alignas(EP_CACHE_LINE) _Atomic uint64_t tail;
	// Written by the consumer, read by producers.
	alignas(EP_CACHE_LINE) _Atomic uint64_t head;
	uint64_t end;  // consumer-private: end of the reservation head is in
};

ep_ring *ep_ring_new(uint64_t capacity) {
	if (capacity == 0 || (capacity & (capacity - 1)) != 0) {
		return NULL;
	}
	if (capacity > SIZE_MAX / sizeof(ep_sample)) {
		return NULL;
	}
	void *rmem = NULL, *dmem = NULL, *smem = NULL;
	if (posix_memalign(&rmem, EP_CACHE_LINE, sizeof(ep_ring)) != 0) {
		return NULL;
	}
	if (posix_memalign(&dmem, EP_CACHE_LINE, (size_t)capacity * sizeof(ep_sample)) != 0) {
		free(rmem);
		return NULL;
	}
	if (posix_memalign(&smem, EP_CACHE_LINE, (size_t)capacity * sizeof(_Atomic uint64_t)) != 0) {
		free(dmem);
		free(rmem);
		return NULL;
	}
	ep_ring *r = rmem;
	r->mask = capacity - 1;
	r->data = dmem;
	r->seq = smem;
	memset(r->data, 0, (size_t)capacity * sizeof(ep_sample));
	for (uint64_t i = 0; i < capacity; i++) {
		// 0 is never > a position, so every slot starts unpublished.
		atomic_init(&r->seq[i], 0);
	}
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	r->end = 0;
	return r;
}

void ep_ring_free(ep_ring *r) {
	if (r == NULL) {
		return;
	}
	free(r->seq);
	free(r->data);
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
	const uint64_t start = tail & r->mask;
	const uint64_t first = k < size - start ? k : size - start;
	memcpy(&r->data[start], src, (size_t)first * sizeof(ep_sample));
	memcpy(&r->data[0], src + first, (size_t)(k - first) * sizeof(ep_sample));
	atomic_store_explicit(&r->seq[start], tail + k, memory_order_release);
	return (size_t)k;
}

size_t ep_pop_batch(ep_ring *r, ep_sample *dst, size_t n) {
	// Only this (single) consumer writes head and end.
	const uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	const uint64_t mask = r->mask, size = mask + 1;
	uint64_t end = r->end;
	uint64_t pos = head;
	size_t i = 0;
	while (i < n) {
		if (pos == end) {
			// At the start of the next reservation: published yet?
			uint64_t v = atomic_load_explicit(&r->seq[pos & mask], memory_order_acquire);
			if (v <= pos) {
				break;
			}
			end = v;
		}
		uint64_t m = end - pos;
		if (m > n - i) {
			m = n - i;
		}
		const uint64_t start = pos & mask;
		const uint64_t first = m < size - start ? m : size - start;
		memcpy(dst + i, &r->data[start], (size_t)first * sizeof(ep_sample));
		memcpy(dst + i + first, &r->data[0], (size_t)(m - first) * sizeof(ep_sample));
		pos += m;
		i += (size_t)m;
	}
	r->end = end;
	if (pos != head) {
		atomic_store_explicit(&r->head, pos, memory_order_release);
	}
	return i;
}

void ep_ring_counts(ep_ring *r, uint64_t *head, uint64_t *tail) {
	// head first: tail read afterwards is never behind it.
	*head = atomic_load_explicit(&r->head, memory_order_acquire);
	*tail = atomic_load_explicit(&r->tail, memory_order_acquire);
}
