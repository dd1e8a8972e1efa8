// Package forward publishes spooled batches to JetStream, oldest first, and
// removes each from the spool only after the stream acknowledged it.
//
// # Types
//
// A [Forwarder] reads the [spool.Spool], publishes every batch to
// tele.<site>.<host> with Nats-Msg-Id = agent/sequence (so retries and
// replays after a crash are stored once), retries transient failures with
// capped exponential backoff, and drops — and counts — a batch the server
// rejects permanently, so one poison batch never blocks the ones behind it.
// Every publish carries Content-Type and Edgepulse-Schema headers.
//
// # Concurrency
//
// Run is called once; Notify and Stats are safe from any goroutine. Run
// stops only through its context.
//
// # Imports
//
// forward must not import Redis or the aggregator.
package forward
