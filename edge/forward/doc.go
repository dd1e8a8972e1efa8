// Package forward publishes spooled batches to JetStream, oldest first, and
// removes each from the spool only after the stream acknowledged it.
//
// # Types
//
// A [Forwarder] reads a [Source] — the [spool.Spool], or the agent's
// outbox while a full disk keeps the spool closed — and publishes every
// batch to tele.<site>.<host> with Nats-Msg-Id = agent/sequence, so retries and
// replays after a crash or reconnect are stored once (within the stream's
// de-duplication window). That is the only header: every header byte
// crosses the uplink once a minute per host, and the frame names its own
// schema version in its first field. [Options] has [DefaultOptions] and
// [Options.Validate]; [Stats] are its counters.
//
// # Publishing
//
// Publishes are asynchronous (jetstream PublishMsgAsync on a context of
// the forwarder's own, with an ack timeout), at most Options.MaxInFlight
// awaiting their ack. Acks are settled in sequence order: the forwarder
// waits on the oldest outstanding publish.
//
//   - ack: the batch leaves the spool; the next one is sent.
//   - permanent rejection (a 4xx from the stream such as "message size
//     exceeds maximum", or a batch above the server's max_payload): the
//     batch is dropped, counted in Stats.Rejected and logged; the batches
//     behind it are unaffected.
//   - any other failure (no responders while the uplink is down, ack
//     timeout, disconnect): batches after it that are already acknowledged
//     leave the spool, the rest are abandoned, and after a capped
//     exponential backoff with jitter (MinBackoff doubling to MaxBackoff,
//     each pause drawn from the upper half) the next round
//     resends from the oldest un-acked batch. A reconnect (the connection's
//     CONNECTED event) ends the backoff at once, so the spool replays in
//     order after every reconnect without waiting for the agent.
//   - poison: a batch whose ack times out while batches sent after it are
//     stored, MaxStrikes rounds in a row, is something the path loses
//     silently (e.g. larger than a hop's max_payload); it is dropped and
//     counted like a rejection so it never jams the queue.
//
// # Concurrency
//
// [Forwarder.Rewind] starts the next round from the oldest batch (the
// source gained older batches).
//
// Run is called once; Notify, Rewind and Stats are safe from any goroutine. Run
// stops only through its context.
//
// # Imports
//
// forward must not import Redis or the aggregator.
package forward
