// Package spool is the agent's outbox: batches are durable in Badger before
// they are published and deleted only after JetStream acknowledged them.
//
// # Types
//
// A [Spool] stores encoded batches under their sequence number, hands them
// out oldest first ([Spool.Next]) and forgets them on [Spool.Ack]. It bounds
// the bytes it holds: when full, the oldest batches are dropped first and
// counted ([Stats].Dropped).
//
// # Durability
//
// Append commits the batch and the sequence counter in one transaction and
// syncs Badger's log (DB.Sync) before it returns, so a batch Append
// returned for survives power loss. Ack and the bound's drops are not
// synced: a delete lost in a power cut only republishes a batch, which the
// stream's de-duplication (same Nats-Msg-Id) stores once. Options.NoSync
// skips the sync. docs/spool.md has the policy and its measured cost
// (BenchmarkAppend, BenchmarkAck: sync=append, all, none). Sequence
// numbers come from the same transaction as the batch, so they never
// repeat after a crash.
//
// # Damage and full disks
//
// Before Badger opens the directory the spool replays its MANIFEST and
// opens and checksums every table itself (tables.go): Badger would panic
// on a truncated table in a goroutine no caller can recover, and silently
// drop tables a truncated MANIFEST no longer lists. Any damage, error or
// panic moves the directory aside (dir.corrupt-<unix ns>), logs it,
// counts it ([Stats].Recovered) and starts a fresh spool holding every
// batch the tables still hold (open.go). The state file beside the spool
// (state.go) keeps the last sequence number, a synced reservation and the
// number of batches held outside Badger: sequence numbers never go back
// below one issued, and batches held before a restart that are gone after
// it are counted ([Stats].Lost) and logged. Badger writes through mapped
// files, where a full disk was a SIGBUS; the patched Badger
// (edge/third_party/badger) allocates their blocks first, so a full disk is an
// error, whoever filled it. Append keeps Options.DiskReserve free for
// Badger's flushes and compactions: at the reserve it drops the oldest
// batches for the new one, or refuses it with none to drop ([ErrDiskFull];
// both counted in [Stats].DiskDropped), and compacts away deleted batches
// to give their space back (disk.go). A spool that cannot open for a full
// disk is [ErrDiskFull] ([IsDiskFull]), not damage: the agent runs on
// without it, numbering batches with a [Sequencer] on the state file
// alone and handing them to the spool with [Spool.Adopt] once it opens
// (standby.go). Badger's repeated error lines (its flusher retries every
// second on a full disk) reach the log once a minute per format, counted
// ([Spool.BadgerLog], badgerlog.go).
//
// # Order
//
// [Spool.Next] returns batches in sequence order, which is the order they
// were appended; the forwarder replays from Next(0) on start and after
// every failure or reconnect.
//
// # Concurrency
//
// All methods are safe for concurrent use.
//
// # Imports
//
// spool must not import NATS, Redis or the aggregator.
package spool
