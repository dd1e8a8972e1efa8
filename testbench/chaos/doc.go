// Package chaos runs the issue 18 fault scenarios on real processes (Redis,
// the aggregator with its embedded hub, a stock leaf node and an agent on
// this host's /proc, started by testbench/harness): a Redis restart on an
// older snapshot (kill -9, restart on its RDB) and a query flood (Run);
// the agent's disk full on a small tmpfs with the uplink cut, and each
// spool damage done to a stopped agent (RunAgent: diskfull.go,
// spooldamage.go, agentproc.go). Each ends with one RESULT line. It must
// not be imported by the product.
package chaos
