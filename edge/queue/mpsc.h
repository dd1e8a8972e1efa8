// mpsc.h: bounded lock-free multi-producer single-consumer ring of
// ep_sample, C11 atomics. The Go side (queue_cgo.go) calls it in batches.
#ifndef EDGEPULSE_QUEUE_MPSC_H
#define EDGEPULSE_QUEUE_MPSC_H

#include <stddef.h>
#include <stdint.h>

// ep_sample must match queue.Sample in sample.go byte for byte; both sides
// check the layout at compile time (mpsc.c and queue_cgo.go).
typedef struct {
	int64_t ts;       // Unix milliseconds
	double value;
	uint32_t series;  // interned series id
	uint32_t flags;
} ep_sample;

// Layout facts exported to Go (cgo reads enum constants as Go constants).
enum {
	EP_SAMPLE_SIZE = sizeof(ep_sample),
	EP_SAMPLE_OFF_TS = offsetof(ep_sample, ts),
	EP_SAMPLE_OFF_VALUE = offsetof(ep_sample, value),
	EP_SAMPLE_OFF_SERIES = offsetof(ep_sample, series),
	EP_SAMPLE_OFF_FLAGS = offsetof(ep_sample, flags),
};

typedef struct ep_ring ep_ring;

// ep_ring_new allocates a ring of capacity slots; capacity must be a power
// of two. It returns NULL if capacity is not or memory is short.
ep_ring *ep_ring_new(uint64_t capacity);

// ep_ring_free releases r and its slots. r must not be used afterwards.
void ep_ring_free(ep_ring *r);

// ep_push_batch copies up to n samples from src into the ring, as many as
// fit, and returns how many. Never blocks. Safe from many threads at once.
size_t ep_push_batch(ep_ring *r, const ep_sample *src, size_t n);

// ep_pop_batch copies up to n samples, oldest first, into dst and returns
// how many. Never blocks. One consumer thread at a time only.
size_t ep_pop_batch(ep_ring *r, ep_sample *dst, size_t n);

// ep_ring_counts reports the number of positions popped (*head) and
// reserved by producers (*tail) since the ring was made.
void ep_ring_counts(ep_ring *r, uint64_t *head, uint64_t *tail);

#endif
