// Package faults is the fault testbench: real agent, leaf nats-server,
// aggregator and Redis processes, a counting and cuttable proxy on every
// site's uplink, and scenarios that cut links and kill processes, then
// check that every window the agents produced is in Redis exactly once
// with the published values.
//
// # Scenarios
//
// [RunOutage] (A): sites × agents over synthetic /proc trees with 1 s
// windows. Every uplink is cut; a quarter into the outage one agent is
// killed with SIGKILL and restarted a tenth later; half-way one site's
// leaf node is killed and restarted; then the links come back and the
// run waits for the backlog to drain.
//
// [RunKills] (B): one agent is killed with SIGKILL Kills times at random
// moments (0.5–5 s after it came up) and restarted each time; its uplink
// is cut for the first half of the kills, so the spool carries a
// growing backlog through crashes, and restored for the second half, so
// kills also land in replays and acks. Every restart must come up (the spool reopens,
// the process does not exit by itself): no crash loop.
//
// Both end the same way: the /proc trees are emptied (the hosts stop
// producing samples), the run waits until every agent's spool is empty
// (its /metrics), stops the agents with SIGTERM, waits until the
// aggregator has consumed the stream, opens each stopped agent's spool,
// and verifies.
//
// # Source of truth
//
// A [Recorder] holds a core NATS subscription to tele.*.* on the hub. Every
// batch that reaches the hub passes it — the first delivery and every
// retry or replay — whether the stream then stores it or de-duplicates
// it. The work-queue stream itself cannot be the record (the aggregator
// deletes what it consumed). The hub alone would miss a batch lost
// between the agent and the hub, so the run also knows each spool's
// sequence range: before an agent first starts, the run opens its spool
// once and persists the sequence counter, so the first sequence number
// the agent issues is known; after the final clean stop it reads the
// spool's last issued sequence number and what is left in it. The spool
// issues consecutive numbers, one per window, and never reuses one.
//
// # Definitions
//
//   - expected window: a distinct (agent, window start) seen at the hub,
//     plus one per sequence number the agent's spool issued (first..last)
//     that never reached the hub.
//   - stored: an expected window all of whose rollups are in Redis
//     exactly once — one member at the window's end in each series' ZSET
//     (<prefix>d:<sid>) — equal to the member the published batch encodes.
//   - lost: a sequence number the spool issued (the window was closed and
//     made durable) that never reached the hub, or a window seen at the hub
//     with a rollup missing from Redis. A window the agent never closed
//     because it was dead (killed before the window's end plus lateness)
//     has no sequence number and is not lost: nobody produced it.
//   - duplicate: one window shipped under two or more sequence numbers, or
//     more than one member at a window's score in a series. The same
//     sequence number seen twice at the hub is a replay, not a duplicate:
//     the stream's Nats-Msg-Id de-duplication stores it once and Redis
//     writes are idempotent; replays are counted separately.
//   - drain_s: seconds from restoring the uplink until the last batch of a
//     window that ended before the restore reached the hub (measured
//     after the run from the recorder's first-seen times).
//   - crash_restarts: SIGKILL + restart cycles of agents.
//
// # Types
//
// [Fleet] starts and owns the processes; [Result] holds a scenario's
// counters, [Result.Line] the one-line summary and [Sum] adds scenarios.
//
// # Concurrency
//
// A scenario runs in the caller's goroutine; the recorder's handler and
// the /proc writer run in their own and lock what they share.
//
// # Imports
//
// faults drives binaries; it imports edge/spool (to read stopped spools),
// aggregator/store (the Redis key schema) and codec, never the agent's or
// aggregator's internals.
package faults
