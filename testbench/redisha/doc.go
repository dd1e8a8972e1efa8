// Package redisha tests the aggregator's store on real Redis topologies
// (issue 13, part 8), driven by go test: a 3-master Redis Cluster whose
// slots move while frames arrive (redis-cli --cluster reshard), a
// master, replica and three Sentinels whose master is killed with SIGKILL
// while frames arrive, and a standalone Redis with a short retention whose
// memory must stay flat while windows keep arriving (at accelerated data
// time). The Redis processes come from testbench/harness; the aggregator
// runs in process with its embedded hub, and frames are published through
// JetStream as agents publish them.
//
// Every test checks through the query API that every published window of
// every series is stored exactly once with its own values, that the
// aggregator applied every frame published, and that none was lost.
//
// The tests skip when redis-server is not installed (CI installs it) and
// under -short; each takes well under a minute.
package redisha
