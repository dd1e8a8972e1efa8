// Package ring assigns a fixed number of partitions to the live members of
// the aggregator ring: consistent hashing with virtual nodes and weights,
// with bounded loads, plus the list of partitions that move between two
// memberships.
//
// Subjects carry a partition token computed by nats-server's partition(n,
// ...) mapping; [PartitionOf] and [PartitionOfTokens] compute the same
// number. A [Ring] maps each partition to the member that consumes it.
// Every aggregator builds its Ring independently from the same member list
// (the membership KV bucket) and gets the same assignment.
//
// # Types
//
//   - [Options]: partition count P (default 64), virtual nodes per unit of
//     weight (default 128), load factor (default 1); [DefaultOptions],
//     [Options.Validate]. The zero value means the defaults.
//   - [Member]: a string ID and a weight (0 means 1).
//   - [Ring]: built by [New]; [Ring.Owner], [Ring.Partitions],
//     [Ring.Assignment], [Ring.Capacity].
//   - [Move] and [Diff]: the partitions whose owner differs between two
//     rings.
//
// # Algorithm
//
// Member m of weight w gets max(1, round(VirtualNodes*w)) points on a 64-bit
// ring: the first outputs of a SplitMix64 generator seeded with the FNV-1a
// 64-bit hash of its ID. Partition p of P sits at p*2^64/P. Each member has a capacity (below); the assignment is
// the deferred-acceptance (Gale-Shapley) matching in which partitions
// propose to members in the order their points follow clockwise, and a
// member keeps the closest proposals up to its capacity. Consequences:
//
//   - it is a function of the member set, weights and options only, not of
//     slice order or of history, and the same on every architecture (integer
//     hashing, exact rational capacities);
//   - when no member would exceed its capacity it is exactly plain
//     consistent hashing;
//   - it is stable: no partition is closer to a member that has room or that
//     holds a farther partition;
//   - when a member joins and no capacity changes, partitions only move to
//     members closer to them (the newcomer, or a member that lost a
//     partition to it); when one leaves, only to members farther away.
//     TestStable and TestMovement check both.
//
// The hash constants and the algorithm are part of the protocol between
// aggregators: changing them changes every assignment, so aggregators of
// different versions would disagree. testdata/assignment.golden pins them.
//
// # Balance: what is guaranteed
//
// With fair share s = P*w/W (W the total weight), member m holds at most
//
//	capacity = max(ceil(s), floor(LoadFactor*s))
//
// partitions, and every partition is owned while there is a member. With
// the default LoadFactor 1 and N equal-weight members that is ceil(P/N),
// the smallest maximum any assignment can have, so the largest load is
// exactly ceil(P/N), and max/mean <= 1.10 for every N where integer counts
// allow it at all. For P = 64 and N = 3..50 they do not allow it for N = 9,
// 12, 15, 18-21, 24-31 and 36-50 (for example N = 50: mean 1.28, and some
// member must hold 2, so max/mean = 1.5625); there max/mean is the
// unavoidable ceil(P/N)*N/P. LoadFactor > 1 loosens the bound only where
// floor(LoadFactor*s) > ceil(s), so LoadFactor 1.1 still keeps max/mean <=
// 1.10 wherever that is possible. TestBalanceBound checks the bound for
// N = 3..50 over 61 member sets each.
//
// There is no lower bound: a member may hold fewer than floor(P/N)
// partitions, and for most N from 15 up some member sets leave a member
// with none (never when N divides P: then every member holds exactly P/N).
// Requiring floor(P/N) as well was measured (not kept): it raised the mean
// movement over N = 3..50 from 1.7x to 2.4x ideal or more.
//
// # Movement: what was measured
//
// The ideal on a join or leave is P/N partitions (the share of the member
// that came or went; N the larger member count). TestMovement measures
// Diff between N-1 and N members (40 random member sets per N, P = 64):
//
//	N               3     5    10    20    50
//	mean moved   1.06  1.22  1.44  1.28  1.15  x ideal
//	worst seen   1.27  1.48  2.03  2.19  3.12  x ideal
//
// Averaged over N = 3..50 the mean is 1.70x ideal, and 53% of events meet
// the per-event target moved <= ceil(1.2*P/N) of the issue; that target is
// NOT met in general. The cost has two sources. Partitions that bounded
// loads displaced from their first choice can move when any member's load
// changes. And when ceil(P/N) itself changes, every member at the old
// capacity must give up a partition, mostly to a member other than the
// newcomer: the mean reaches 3.0x at N = 15 <-> 16, 4.6x at 21 <-> 22 and
// 8.3x at 31 <-> 32 (capacity 3 -> 2, where all 32 members must hold
// exactly 2). Exact floor/ceil quotas lower those peaks (to 3.7x at most)
// but raise the average to 2.4x or more; of the variants measured
// (sequential bounded loads, rendezvous hashing with capacities, min-cost
// assignment, exact and staggered quotas) none came near 1.2x per event.
// With few partitions per member, tight balance and minimal movement pull
// against each other.
//
// # Concurrency
//
// A Ring is immutable after New and safe for concurrent use; slices it
// returns are the caller's. A membership change builds a new Ring, and Diff
// tells which partition consumers to stop and start.
//
// # Imports
//
// ring is a leaf library: standard library only. It must not import NATS,
// Redis, Badger, edge or aggregator, reads no flags and keeps no globals
// beyond constants and sentinel errors.
package ring
