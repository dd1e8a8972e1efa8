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
// repeat after a crash. A spool Badger cannot open is moved aside
// (dir.corrupt-<unix>), logged and counted, and a fresh one is started
// whose sequence numbers begin at the current Unix time in milliseconds —
// above anything the lost spool can have issued — so the stream's
// de-duplication never mistakes new batches for old ones.
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
