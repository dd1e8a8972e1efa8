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
// Each stored minute also has a size key (sizes.go): "s" + the Unix minute
// (8 bytes, big endian), holding the minute's bytes (key plus value
// lengths of its blocks) as a uvarint. [History.Flush] writes it after the
// minute's blocks in the same WriteBatch; deleting a minute deletes it
// last. [New] reads these keys (~12 bytes each: ~17 KB for a day) instead
// of every block, and recounts block by block only the minutes from the
// newest size key on, the ones a crash inside a flush's WriteBatch (it
// commits as several transactions) may have left without a size key or
// with a stale one; it writes their corrected keys. A history an older
// agent wrote has no size keys: the first open reads every block once,
// writes them and logs it. A size key left without blocks (a crash inside
// a deletion) is deleted again by the next retention or byte-bound pass:
// its minute is still the oldest.
//
// # Bounds
//
// Minutes older than Options.Retention are deleted; when the stored bytes
// (key plus value lengths of the blocks, counted by History; the size keys'
// few KB are not counted) exceed Options.MaxBytes the oldest minutes are
// deleted first, and counted ([Stats].DroppedMinutes).
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
