// Package harness starts the real processes the testbench drives — Redis,
// nats-server leaf nodes, edgepulse agents and aggregators — on loopback
// ports, and waits for them by polling, never by sleeping.
//
// # Ports
//
// A process binds its own ports (nats-server and the aggregator's hub
// port -1, HTTP listeners :0) and the bench reads the bound addresses
// from its log ([WaitLog], [WaitAggregator], [WaitNATS], [WaitMonitor],
// [AgentMetricsURL]), so no port is picked, released and bound later by
// someone else (ports.go). [FreePort] remains where the port must be
// known before the process starts: redis-server and Sentinel (they
// cannot bind 0 and report it; [StartRedis] and [OnFreePorts] retry on
// "Address already in use"), servers of a cluster whose routes name each
// other, and a process restarted on the port its clients were given.
//
// # Types
//
// [Proc] is one child process with its log file; [Bins] builds the
// binaries once per test run with the go tool. [Redis] is a standalone
// redis-server; [RedisCluster] a Redis Cluster of masters that can move
// slots while clients write ([RedisCluster.Reshard]); [RedisSentinel] a
// master, a replica and three Sentinels whose master can be killed
// ([RedisSentinel.KillMaster], [RedisSentinel.WaitFailover]).
// [RedisBenchmarkSet] is the pipelined SET ceiling measurements compare
// ingest with, [RedisSettledMemory] used_memory once due keys expired.
//
// # Concurrency
//
// Helpers are called from a test's goroutine; Proc.Stop is idempotent.
package harness
