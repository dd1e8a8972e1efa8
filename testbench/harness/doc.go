// Package harness starts the real processes the testbench drives — Redis,
// nats-server leaf nodes, edgepulse agents and aggregators — on free
// loopback ports, and waits for them by polling, never by sleeping.
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
