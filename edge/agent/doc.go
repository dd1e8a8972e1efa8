// Package agent wires the edge pipeline together: collect every interval,
// push the samples through the lock-free queue, roll them up per window,
// encode one batch per window, make it durable in the spool and let the
// forwarder publish it. Its NATS micro service (service.go) answers
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
// Run starts three goroutines — the collection loop (the queue's producer),
// the rollup loop (its single consumer) and the forwarder — and returns
// when ctx is done and all three have stopped.
//
// # Imports
//
// agent must not import the aggregator.
package agent
