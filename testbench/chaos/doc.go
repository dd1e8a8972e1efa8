// Package chaos runs the issue 18 fault scenarios on real processes (Redis,
// the aggregator with its embedded hub, a stock leaf node with per-host
// users and an agent on this host's /proc, started by testbench/harness
// with credentials), in order on one stack (Scenarios; -only picks some):
//
//   - redis_rollback: kill -9 Redis and restart it on an older snapshot;
//   - redis_wiped: kill -9 Redis and restart it empty;
//   - forged_neighbour: another host of the site forges the agent's
//     windows and Nats-Msg-Ids;
//   - clock_skew: agents whose clocks are +10 min and −20 days off
//     (corrected) and +10 min (correction off);
//   - query_flood: heavy-query clients beside a normal query;
//
// and, on a stack of its own (RunAgent: diskfull.go, spooldamage.go,
// agentproc.go), the agent's disk full on a small tmpfs with the uplink
// cut and each spool damage done to a stopped agent.
//
// Each ends with one RESULT line. It must not be imported by the product.
package chaos
