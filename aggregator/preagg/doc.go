// Package preagg computes fleet-wide aggregates as frames are applied:
// configured rules (sum, min, max, count, avg of one value per series and
// window, grouped by any labels such as site, job or region) become series
// of their own in the regional store, so a dashboard reads a few series
// per group instead of every host's.
//
// # Partials per partition
//
// Frames reach the aggregator through stream partitions, each consumed by
// one member at a time. A rule's aggregate of a window is therefore kept
// as one *partial* per partition: the member that applies a frame writes
// the host's contribution (per group: sum, min, max and the number of
// series) into the Redis hash of (rule, partition, window), field = host,
// in one Lua script that also decides the window's version. Writing a
// host's field twice changes nothing, so a redelivered frame is never
// counted twice, and the hash, not the member's memory, is the partial's
// state: when a member dies in the middle of a window, the member that
// takes its partitions continues from the same hash (the un-acknowledged
// frames come again and land in their fields). The partial is stored with
// the store's write API as an ordinary series whose instance label is the
// partition ("_p007"); [Queryable] merges the partitions' partials of a
// group at query time (sum of sums, min of mins, …), so queries of a
// rule's output name read it directly and see one series per group.
//
// # Versions
//
// A window's partial closes — is written for the first time — when the
// hosts that reported reach CloseShare of the hosts the partition had in
// the window before, or when Deadline after the window's end has passed
// (a ticker on every member closes due windows, so a dead member's open
// windows close too). A host arriving after the close adds its field and
// writes the partial again (a new record of the same window end, which
// the store's reader prefers: the version is updated in place) and is
// counted in edgepulse_preagg_late_updates_total. Ingest only decides
// versions (one pipelined round trip per batch of frames); the owner's
// deadline loop writes them within a second, and a version not written
// yet (the write failed, the member died) stays due in the open set. Next to each output X
// the rule writes X_hosts (hosts covered) and X_version, so a dashboard
// can tell a dip from missing hosts.
//
// # Keys (prefix of the store)
//
//	<p>pa:{<rule>:<part>}:<end>   HASH host → contribution, "\x00v" → version, "\x00w" → width;
//	                              expires Late after the window end or its last write
//	<p>pa:{<rule>:<part>}:open    ZSET window end → close deadline (Unix ms) while open, then a
//	                              retry time until its newest version's write is confirmed
//	<p>pa:{<rule>:<part>}:done    ZSET windows closed in the last 24 h: a host coming after
//	                              the hash expired is counted too late, not a new partial
//
// One hash tag per (rule, partition), so the script works in a Redis
// Cluster.
//
// # Types
//
// [Config] and [Rule] are the aggregator.yaml section; [Engine] observes
// frames and closes due windows; [Queryable] wraps a storage.Queryable.
// Engine is safe for concurrent use by the partition consumers.
//
// # Imports
//
// preagg must not import NATS or edge.
package preagg
