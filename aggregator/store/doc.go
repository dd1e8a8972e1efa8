// Package store writes window rollups to Redis and reads them back for the
// query API.
//
// # Key schema (see docs/redis-schema.md)
//
//	<p>series            HASH  sid → "name\x00k\x00v…"  every series ever written
//	<p>names             SET   metric names
//	<p>name:<metric>     SET   sids of that metric
//	<p>lnames            SET   label names
//	<p>lv:<label>        SET   values seen for that label
//	<p>d:<sid>           ZSET  score = window end (Unix ms), member = one rollup
//	<p>h:<sid>           ZSET  hourly tier: score = hour end, member = the hour merged
//	<p>w:<agent>         STRING decoder state after the agent's newest frame
//	<p>ws:<agent>        ZSET  the agent's last applied frame seqs
//	<p>wc:<hour>         STRING windows written starting in that hour (Unix ms / 3600000), for Capacity
//	<p>probe:<member>    STRING the readiness probe's write (Probe)
//
// <p> is the key prefix (default "ep:"); sid is the 16-hex-digit FNV-1a-64
// of the canonical series text. A rollup member is the text
// "end|width|count|sum|min|max|first|last|p50|p90|p99", so writing the
// same batch twice adds the same members again — a no-op: redelivery can
// never double-count. Data keys expire after the retention unless written
// again.
//
// # Types
//
// [Store] is safe for concurrent use; it owns a go-redis client for reads
// and a few hand-written RESP connections for the write path. [Write]
// gathers the writes of several frames into one pipelined round trip;
// one goroutine uses a Write. [MergeHour] merges minute windows into an
// hourly rollup. [Store.Capacity] counts series and stored windows and
// reads Redis's memory; [ErrorReason] classifies a Redis error into the
// small fixed set [ErrorReasons] (timeout, connection, readonly, oom,
// cluster, loading, auth, other); [Store.Probe] is the readiness probe.
//
// # Imports
//
// store must not import NATS or edge.
package store
