// Package aggregator is the regional service: it embeds the hub
// nats-server (JetStream on, accepting leaf-node connections from sites),
// owns the telemetry stream, consumes batches, writes their rollups to
// Redis and serves the Prometheus HTTP API.
//
// # Types
//
// [Config] is the YAML configuration ([DefaultConfig], [Config.Validate]).
// [Aggregator] runs everything ([New], [Aggregator.Run]) and exposes its
// counters ([Aggregator.Stats]).
//
// # Subjects and stream
//
// Agents publish to tele.<site>.<host>. The TELEMETRY stream captures
// exactly two-token subjects under tele and, with a subject transform,
// stores them as tele.<site>.<host>.<partition>, where the partition is
// nats-server's partition(P,1,2): FNV-1a over site and host, modulo P
// (default 64). Consumers filter on the partition token.
//
// # Concurrency
//
// Run blocks until its context is done; Stats is safe from any goroutine.
//
// # Imports
//
// aggregator must not import edge.
package aggregator
