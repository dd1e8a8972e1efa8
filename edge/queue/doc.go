// Package queue is the edge agent's hand-off between collectors and the
// rollup stage: a bounded, lock-free, multi-producer single-consumer queue
// of fixed-layout [Sample] values, moved in batches.
//
// # Types
//
// [Sample] is one measurement (Unix-millisecond timestamp, value, interned
// series id, flags), 24 bytes with a layout shared with C and checked at
// compile time on both sides. [Queue] is the queue; [New] makes one with a
// capacity rounded up to a power of two. [Queue.PushBatch] takes as many
// samples as fit and returns how many, never blocking; what did not fit is
// the caller's to count as dropped or to retry. [Queue.PopBatch] fills a
// slice with the oldest samples. [Stats] has the lifetime counters. [Impl]
// names the implementation compiled in.
//
// # Implementations
//
// Two rings share one algorithm (described at the top of mpsc.c): producers
// reserve a batch of slots with one CAS on the tail, copy the batch in and
// publish it with one store of a sequence number in its first slot; the
// consumer checks that number, copies out and advances the head once per
// call. A batch therefore costs a handful of atomic operations plus a
// memory copy, whatever its size.
//
//   - the pure-Go ring (sync/atomic), the default in every build, Impl "go";
//   - the C11 ring (stdatomic.h, C-allocated memory) called through cgo, one
//     call per batch, compiled and tested whenever cgo is on and chosen
//     for Queue with -tags cgoqueue, Impl "cgo-c11". The purego tag keeps
//     the C out of the build altogether.
//
// The default is the faster ring in BenchmarkQueue and BenchmarkPushPop,
// which also measure a buffered channel with the same API as the baseline.
// On amd64 (Go 1.26, 2 cores) a cgo call costs ~70 ns, more than the whole
// pure-Go push or pop of a 16-sample batch, and the copies are the same
// memmove in both, so the pure-Go ring is faster at every batch size
// measured (1, 16, 256); both rings beat the channel by 10-100x from batch
// 16 up. Rerun the benchmarks before changing the default.
//
// # Concurrency
//
// PushBatch may be called from any number of goroutines at once. PopBatch
// must be called by one goroutine at a time (single consumer). Len, Cap and
// Stats are safe at any time and return snapshots. Close must not run
// concurrently with any other method; after it PushBatch and PopBatch
// return 0. Samples from one producer arrive in the order it pushed them.
// A producer paused between reserving and publishing its batch holds the
// consumer at that batch until it resumes; other producers never wait.
//
// # Imports
//
// queue imports only the standard library (and C); it must not import
// NATS, Redis, Badger, or any other edge or aggregator package.
package queue
