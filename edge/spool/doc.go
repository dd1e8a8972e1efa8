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
// Writes are synced (Badger SyncWrites) by default, so a batch Append
// returned for survives power loss; the cost is measured by
// BenchmarkAppend (sync=true vs sync=false). Sequence numbers come from the
// same transaction as the batch, so they never repeat after a crash. A
// spool Badger cannot open is moved aside (dir.corrupt-<unix>), logged and
// counted, and a fresh one is started whose sequence numbers begin at the
// current Unix time in milliseconds — above anything the lost spool can
// have issued — so the stream's de-duplication never mistakes new batches
// for old ones.
//
// # Concurrency
//
// All methods are safe for concurrent use.
//
// # Imports
//
// spool must not import NATS, Redis or the aggregator.
package spool
