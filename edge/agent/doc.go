// Package agent wires the edge pipeline together: collect every interval,
// push the samples through the lock-free queue, roll them up per window,
// encode one batch per window, make it durable in the spool and let the
// forwarder publish it. While a full disk keeps the spool from opening,
// windows wait in a small memory queue instead and the spool is retried
// (outbox.go, spoolopen.go). Its NATS micro service (service.go) answers
// status, config, history and live requests; live mode (live.go) streams
// watched series' 1 s samples while a console holds a lease.
//
// # Types
//
// [Config] is the agent's YAML configuration ([DefaultConfig], [Config.Validate]).
// [Agent] runs the pipeline ([Agent.Run]) and exposes its counters
// ([Agent.Stats]).
//
// # Concurrency
//
// Run starts the collection loop (the queue's producer), the rollup loop
// (its single consumer), the forwarder and the spool retry among others,
// and returns when ctx is done and all of them have stopped.
//
// # Imports
//
// agent must not import the aggregator.
package agent
