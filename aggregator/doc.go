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
// # The map
//
// [New] wires a few parts, each owning its state; none holds a pointer
// back to the Aggregator or to another part's internals, they get the
// functions or handles they need:
//
//	hub          hubconn.go     the embedded nats-server (hub.go: options,
//	                            TLS, leaf users; its log goes to slog) or
//	                            nats.url; the connection and JetStream
//	stream       stream.go      the TELEMETRY stream, created idempotently
//	membership   membership.go  heartbeats into EP_MEMBERS and agreement on
//	                            the stored assignment (compare-and-set),
//	                            over the small memberKV interface;
//	             memberwatch.go the bucket's watcher (memberWatcher) and
//	             memberview.go  what it saw (memberView);
//	             assignment.go  the stored assignment's format and checks
//	partitions   partitions.go  one consumer and worker per owned partition,
//	                            handing batches of messages to ingest
//	ingest       ingest.go      a frame's path, top to bottom: parse, the
//	                            agent's decoder (wire.go, keyframe.go),
//	                            validation and cardinality caps
//	                            (validate.go), clock check (clock.go), one
//	                            pipelined Redis write, ack
//	alerts       alerts.go      stored incidents republished on alerts.>
//	health       health.go      Redis write outcomes, the readiness probe,
//	                            capacity, memory warning, index sweep;
//	             incidentsweep.go  the open incidents' expiry
//	http surface http.go        the query API (aggregator/query),
//	                            /api/v1/backhaul, /healthz, /readyz, /statz,
//	                            /metrics (metrics.go, client_golang)
//	config push  configkv.go    the EP_CONFIG bucket and its get service
//	detail       detail.go      raw samples fetched from agents on demand
//	watchdog     sdnotify.go    systemd readiness and watchdog
//
// # Membership and partitions
//
// Several aggregators form one JetStream cluster when nats.cluster is set
// (their embedded servers route to each other; Raft replicates the stream,
// the consumers and the bucket ×min(3, cluster size)). Each member puts
// its name into the KV bucket EP_MEMBERS every membership.heartbeat; the
// bucket's max age (membership.ttl) removes the key of a member that
// stopped. The members agree on one partition assignment, stored in the
// same bucket under [AssignmentKey]: a member whose view of the live
// members (its watcher's) differs from the stored assignment's members
// writes the [ring.Rebalance] of the stored one for its view, with a
// compare-and-set on the key's revision, so concurrent writers cannot both
// win and only the partitions of members that joined or left move. Every
// member consumes exactly the partitions the stored assignment gives it:
// it drains the consumers of partitions it lost and starts those it
// gained. A batch fetched by a member that died is redelivered to the new
// owner after ack_wait; Redis writes are idempotent, so a batch applied
// twice changes nothing. A graceful stop (Run's ctx) hands fetched
// batches back with Nak and deletes its key, so the others take over at
// once. A single node is a ring of one that owns every partition.
//
// # Concurrency
//
// Run blocks until its context is done or Close is called; Stats and Ring
// are safe from any goroutine. One goroutine (the membership loop) changes
// the set of partition consumers; the watcher runs beside it. Each
// partition's consume callback queues its messages for one worker
// goroutine per partition (partitions.go), which applies them in batches
// of up to 16 in delivery order — one pipelined Redis write per batch, at
// most 4 writes in flight — and keeps queued messages alive (InProgress)
// past a third of AckWait. Workers touch only ingest's atomic counters and
// mutex-guarded maps and their agents' decoder states (an agent's frames
// land in one partition).
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
