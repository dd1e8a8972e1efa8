// Package backhaul is the backhaul meter (issue 7, `make backhaul`): it
// measures what Edgepulse costs on a site's uplink, in bytes per
// host-minute counted on the wire in both directions, against what
// Prometheus remote write and InfluxDB line protocol would cost for the
// same samples, and checks that the savings drop nothing.
//
// # The run
//
// [Run] starts real processes: Redis, the aggregator (embedded hub), and
// per site a stock nats-server leaf (deploy/leaf.conf, s2_best) whose
// leaf-node remote reaches the hub through a counting TCP proxy
// (testbench/proxy), and Hosts edgepulse agents on that leaf. The first
// host of the first site reads this machine's /proc; every other host
// reads a synthetic tree ([Host]) that the meter rewrites once per second,
// half-way between two collections, each file atomically. Windows are
// measured in real time because idle link costs (pings, heartbeats,
// interest propagation) are per wall-clock minute: one window of warm-up,
// then Duration/Window − 1 windows measured from the middle of a window
// to the middle of another, so each measured window's batch falls inside.
//
// # What is counted
//
//   - wire: the proxies' byte counters over the measured interval,
//     leaf→hub (up) and hub→leaf (down), every protocol byte.
//   - payload: the bodies of the messages that reached the hub on tele.>
//     in that interval (a core subscription on the hub, format-agnostic);
//     overhead = wire − payload, negative when the link's s2 compression
//     saves more than the protocol costs.
//   - baselines: the meter samples every tree itself at 1 s with the
//     agent's collectors (so the same series and values) and sends
//     Prometheus remote write 1.0 (prompb, snappy) at 1 s and 15 s and
//     line protocol (gzip) at 10 s over real HTTP/1.1 keep-alive
//     connections to in-process sinks that count wire bytes and bodies.
//   - techniques: every agent writes each closed window's full batch to
//     its window log (agent config window_log); the meter re-encodes each
//     host's windows with every row of the techniques table offline.
//   - fidelity: every statistic of every series of every window in the
//     window logs is compared with what the aggregator stored in Redis
//     within the wire's bounds (docs/wire.md): counts exact; statistics
//     within Tolerance (default: the agents' wire precision); a counter's
//     raw value exact in its first window and after a reset, else within
//     Tolerance of its growth (increments with error feedback; the error
//     stays while the counter is flat). Windows expected, logged and
//     stored are counted. The offline frame rows get the same check.
//
// # Variants
//
// LeafCompression replaces the leaf remote's s2_best (e.g. "off": what s2
// on the link saves, live) and AgentYAML is appended to every agent's
// config (e.g. "wire: {compress: false}"), so wire-level techniques that
// cannot be replayed offline are measured by a second run.
//
// # Types
//
// [Options] shape a run ([DefaultOptions], [ShortOptions]); [Result] holds
// the numbers, [Result.Print] the tables and the RESULT line; [Host] is one
// synthetic host and [Templates] the kernel's file shapes it reuses.
//
// # Concurrency
//
// Run blocks; the tree writer, the samplers and the recorder run in their
// own goroutines and are stopped before Run returns. Every process Run
// starts is stopped when it returns (also on ctx cancellation) and is
// started with a parent-death signal.
package backhaul
