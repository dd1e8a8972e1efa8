// Package history keeps an agent's raw samples (one per series per
// collection, 1 s by default) for a bounded time in the agent's Badger
// database, next to the spool, so an operator or the aggregator's query API
// can fetch detail on demand instead of having it shipped.
//
// # Types
//
// A [History] buffers each series' samples in memory for the current
// minute ([History.Append], called with every batch the agent pops from
// its queue) and writes one key per series per minute once the minute is
// over ([History.Flush]). [History.Query] answers a
// [codec.HistoryRequest] from Badger and the in-memory minute.
//
// # Storage
//
// Keys are "h" + the Unix minute (8 bytes, big endian) + the series key
// (name, then label name/value pairs, NUL-separated), so a minute's keys
// are contiguous and the oldest minute is the first prefix. A value is one
// minute block (block.go): the sample count, then per sample its timestamp
// as a delta-of-delta varint and its value as "same as before", an integer
// delta varint or the non-zero bytes of the XOR with the previous value —
// about 2–4 bytes per sample for procfs series. Badger compresses the
// tables (Snappy) on top.
//
// # Bounds
//
// Minutes older than Options.Retention are deleted; when the stored bytes
// (key plus value lengths, counted by History) exceed Options.MaxBytes the
// oldest minutes are deleted first, and counted ([Stats].DroppedMinutes).
// Samples arriving for a minute already written are counted as late and
// not kept.
//
// # Concurrency
//
// Append and Flush are called by one goroutine (the agent's rollup loop);
// Query and Stats may be called from any goroutine. One mutex guards the
// buffers, taken once per Append batch.
//
// # Imports
//
// history imports Badger, codec and edge/queue; it must not import NATS
// or aggregator.
package history
