// Package aggregator is the regional service: it embeds the hub
// nats-server (JetStream on, accepting leaf-node connections from sites)
// or joins an external NATS cluster, owns the telemetry stream, takes its
// share of the stream's partitions through ring membership, writes their
// rollups to Redis and serves the Prometheus HTTP API and, on the same
// listener under /ui/, the web console (aggregator/console), which it
// tells of every frame it applies.
//
// # Types
//
// [Config] is the YAML configuration ([DefaultConfig], [Config.Validate]),
// with [HubConfig], [ClusterConfig] and [MembershipConfig].
// [Aggregator] runs everything ([New], [Aggregator.Run]) and exposes its
// counters and owned partitions ([Aggregator.Stats], [Aggregator.Ring]).
//
// # Subjects and stream
//
// Agents publish to tele.<site>.<host>. The TELEMETRY stream captures
// exactly two-token subjects under tele and, with a subject transform,
// stores them as tele.<site>.<host>.<partition>, where the partition is
// nats-server's partition(P,1,2): FNV-1a over site and host, modulo P
// (default 64). Each partition has one durable pull consumer,
// part-<p> filtering tele.*.*.<p> ([ConsumerName], [PartitionSubject]),
// created idempotently by whichever member first owns it.
//
// # Membership and partitions
//
// Several aggregators form one JetStream cluster when nats.cluster is set
// (their embedded servers route to each other; Raft replicates the stream,
// the consumers and the bucket ×min(3, cluster size)). Each member puts
// its name into the KV bucket EP_MEMBERS every membership.heartbeat; the
// bucket's max age (membership.ttl) removes the key of a member that
// stopped. Every member lists the bucket on each heartbeat and on every
// change its watcher reports, builds the same [ring.Ring] from the live
// names and consumes exactly the partitions the ring gives it: it drains
// the consumers of partitions it lost and starts those it gained. A batch
// fetched by a member that died is redelivered to the new owner after
// ack_wait; Redis writes are idempotent, so a batch applied twice changes
// nothing. A graceful stop (Run's ctx) hands fetched batches back with Nak
// and deletes its key, so the others take over at once. A single node is
// a ring of one that owns every partition.
//
// # Concurrency
//
// Run blocks until its context is done or Close is called; Stats and Ring
// are safe from any goroutine. One goroutine (the membership loop) changes
// the set of partition consumers. Each partition's consume callback queues
// its messages for one worker goroutine per partition (partitions.go),
// which applies them in batches of up to 16 in delivery order — one
// pipelined Redis write per batch, at most 4 writes in flight — and keeps
// queued messages alive (InProgress) past a third of AckWait. Workers
// touch only atomic counters, the mutex-guarded stats and their agents'
// decoder states (an agent's frames land in one partition).
//
// # Health
//
// /healthz is liveness: the embedded hub runs with JetStream and the NATS
// connection is not closed; it never asks Redis, so an orchestrator (or the
// systemd watchdog) does not restart the hub that buffers the sites'
// batches through a Redis outage. /readyz is readiness: 503 with the
// reason while NATS is not connected, or while the data path's Redis
// writes or a probe (PING and a SET every few seconds) have kept failing
// for longer than redis_unready_after. Failed writes are counted by
// [store.ErrorReason] (Stats.StoreWriteErrors). A background loop computes
// [store.Capacity] every 30 s for /metrics and warns once per crossing of
// redis.memory_warn_fraction × maxmemory (health.go).
//
// # Imports
//
// aggregator must not import edge.
package aggregator
