// Package store writes window rollups to Redis and reads them back for the
// query API.
//
// # Key schema (docs/redis-schema.md has the full table)
//
//	<p>o:{agent}:<hour>        STRING the agent's open log: its windows of an hour not sealed yet
//	<p>c:{agent}<sid>:<hour>   STRING minute tier: a chunk of the series' windows of a sealed hour
//	<p>hc:{agent}<sid>:<day>   STRING hourly tier: a chunk of one merged window per hour
//	<p>w:{agent}               STRING decoder state after one of the agent's applied frames
//	<p>wf:{agent}              STRING the agent's frames applied after that state (at most 30)
//	<p>ws:{agent}              ZSET   the agent's last applied frame seqs
//	<p>series                  HASH   sid → "name\x00k\x00v…"
//	<p>names, <p>name:<metric> SET    metric names; sids of a metric
//	<p>pl:<label>=<value>      SET    postings: sids with that label value
//	<p>lnames, <p>lv:<label>   SET    label names; values of a label
//	<p>seen                    ZSET   sid → newest hour written
//	<p>wc:<hour>               STRING windows written in that hour (Capacity)
//	<p>{inc}open|openat|shut|log|expired|closed  incidents (one slot; closed: read only, before shut)
//	<p>probe:<member>          STRING the readiness probe's write (Probe)
//
// <p> is the key prefix (default "ep:"); sid is the 16-hex-digit FNV-1a-64
// of the canonical series text; {agent} is the Redis Cluster hash tag
// {site/host}, so one agent's chunks, decoder state and applied seqs share
// a slot and one Lua script (write.go) applies a frame atomically in a
// cluster too. A frame's windows are appended to its agent's open log of
// the hour in one APPEND (openlog.go); when the agent's next hour begins
// the log is sealed into one range-coded segment per series (codec
// chunk.go, docs/chunks.md) and deleted; late windows are appended to the
// chunks as records. A data key expires at its block's end plus
// the tier's retention in data time (PEXPIREAT), so memory is bounded by
// series × retention. A frame whose seq is in ws: is not applied again:
// redelivery never double-counts. Keys of the layout before chunks
// (<p>d:, <p>h: ZSETs) are read alongside until they expire (legacy.go).
//
// # Types
//
// [Store] is safe for concurrent use and is the package's facade: it
// embeds one component per concern, each holding a pointer to the shared
// conn (never to the Store), and their exported methods are the Store's.
//
//	type         files                           concern
//	conn         store.go, keys.go               go-redis UniversalClient (standalone, Cluster or
//	                                             Sentinel, from [Options]), options, clock, shared
//	                                             counters; the key builders of the schema above
//	writer       writer.go, wire.go              starts Writes; each agent's series cache
//	                                             (ForgetWrites); an agent's wire state read back
//	reader       read.go, legacy.go,             starts Readers; decoded chunk cache, old-layout
//	             chunkcache.go                   keys, whole-log reads
//	labelIndex   index.go                        series, postings, label names and values; Sweep
//	incidentLog  incidents.go, incidentlog.go,   open incidents and the incident event log; the
//	             incidentexpiry.go               expiry of open incidents past their bounds
//	health       restart.go, probe.go            restart fence, readiness probe, persistence
//	meter        capacity.go, backhaul.go        Capacity, cardinalities, the backhaul meter
//
// [Write] gathers the writes of several frames into pipelined round trips
// (write.go; an hour's seal and late windows in seal.go); one goroutine
// uses a Write. [Reader] reads chunks for one query, each chunk once
// (read.go; open logs through their index in logindex.go, old-layout keys
// in legacy.go). openlog.go is the open log's format, hourly.go
// [MergeHour], which merges minute windows into an hourly rollup.
// [Store.Capacity] counts series and stored windows and reads Redis's
// memory; [ErrorReason] classifies a Redis error into the small fixed set
// [ErrorReasons] (timeout, connection, readonly, oom, cluster, loading,
// auth, other); [Store.Probe] is the readiness probe.
//
// # Imports
//
// store must not import NATS or edge.
package store
