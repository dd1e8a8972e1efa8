// Package ring assigns a fixed number of partitions to the live members of
// the aggregator ring: consistent hashing with virtual nodes and weights,
// with bounded loads ([New], a function of the member set), a
// history-aware rebalance that moves the fewest partitions from a previous
// assignment ([Rebalance]), plus the list of partitions that move between
// two assignments.
//
// Subjects carry a partition token computed by nats-server's partition(n,
// ...) mapping; [PartitionOf] and [PartitionOfTokens] compute the same
// number. A [Ring] maps each partition to the member that consumes it.
// The aggregators keep the current assignment in the membership KV bucket
// (JetStream, replicated through Raft): on a membership change a member
// computes Rebalance(stored assignment, live members) and writes it with a
// compare-and-set on the key's revision; every member consumes what the
// stored assignment gives it (package aggregator, membership.go).
//
// # Types
//
//   - [Options]: partition count P (default 64), virtual nodes per unit of
//     weight (default 128), load factor (default 1); [DefaultOptions],
//     [Options.Validate]. The zero value means the defaults.
//   - [Member]: a string ID and a weight (0 means 1).
//   - [Ring]: built by [New]; [Ring.Owner], [Ring.Partitions],
//     [Ring.Assignment], [Ring.Capacity].
//   - [Rebalance]: the assignment for a member set that keeps a previous
//     assignment as far as the quotas allow; [FromAssignment]: a Ring from
//     a stored assignment, checked.
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
// different versions would disagree. testdata/assignment.golden pins New
// and testdata/rebalance.golden pins Rebalance.
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
// New has no lower bound: a member may hold fewer than floor(P/N)
// partitions, and for most N from 15 up some member sets leave a member
// with none (never when N divides P: then every member holds exactly P/N).
// Requiring floor(P/N) in the memoryless New was measured (not kept): it
// raised the mean movement over N = 3..50 from 1.7x to 2.4x ideal or more.
// [Rebalance] keeps the floor as well, without that cost.
//
// # Rebalance: history-aware, minimal movement
//
// [New] is memoryless, which costs movement (below). [Rebalance] takes the
// previous owner of every partition and the new member set and gives each
// member a quota between floor(s) and its capacity (with defaults and
// equal weights floor(P/N) or ceil(P/N), so the maximum and max/mean are
// those of New). A partition stays with its owner while the owner is a
// member within quota; a member over quota gives up its partitions
// farthest from its ring points; which members sit above their floor is
// chosen to keep the most partitions in place; the orphaned and given-up
// partitions are placed by the same deferred acceptance as New, restricted
// to the members below their target, so placement follows ring closeness
// and is deterministic. Without history it starts from New's assignment
// (identical to it when New already meets the floors). Unlike New it also
// guarantees the floor: no member holds fewer than floor(s).
//
// The number of partitions moved is the least any assignment within the
// quotas can move (TestRebalanceMovement and TestRebalanceMultiChange
// compare it with that minimum computed from the definition). Starting from
// a Rebalance result with equal weights, a leave moves exactly the
// departed member's partitions and a join exactly the newcomer's quota.
// With weights, a leave can move a few more: the survivors' floors rise
// and may together exceed the departed member's partitions.
//
// # Movement: what was measured
//
// The ideal on a join or leave is P/N partitions (the share of the member
// that came or went; N the larger member count).
//
// Rebalance, TestRebalanceMovement (go test ./ring -run
// TestRebalanceMovement -v): sequences of 24 random single joins and
// leaves from random member sets of N = 3..50, each step a Rebalance of
// the previous result, 6912 events with P = 64: every event moved exactly
// the lower bound (the departed member's partitions or the newcomer's
// quota); moved/(P/N) is 0.905 on average and 1.5625 at worst (N = 50: the
// departed member held ceil(64/50) = 2 = 1.5625 x 1.28), and 100% of events
// meet moved <= ceil(1.2*P/N). With P = 256 the mean is 0.974x and the
// worst 1.172x. The same holds with LoadFactor 1.1 (mean 0.897x).
//
// New, TestMovement: Diff between New's rings of N-1 and N members (40
// random member sets per N, P = 64):
//
//	N               3     5    10    20    50
//	mean moved   1.06  1.22  1.44  1.28  1.15  x ideal
//	worst seen   1.27  1.48  2.03  2.19  3.12  x ideal
//
// Averaged over N = 3..50 the mean is 1.70x ideal, and only 53% of events
// meet moved <= ceil(1.2*P/N). The cost has two sources. Partitions that
// bounded loads displaced from their first choice can move when any
// member's load changes. And when ceil(P/N) itself changes, every member
// at the old capacity must give up a partition, mostly to a member other
// than the newcomer: the mean reaches 3.0x at N = 15 <-> 16, 4.6x at
// 21 <-> 22 and 8.3x at 31 <-> 32. A memoryless assignment cannot avoid
// this with tight balance (variants measured: sequential bounded loads,
// rendezvous hashing with capacities, min-cost assignment, exact and
// staggered quotas); Rebalance avoids it by remembering who holds what,
// at the price of needing the previous assignment agreed by all members.
//
// BenchmarkRebalance (go test ./ring -run XXX -bench Rebalance): one join
// takes about 0.1 ms for 3 members and 1 ms for 50 on the 2-core
// development machine, about 1.2 to 2 times New.
//
// # Concurrency
//
// A Ring is immutable after New, Rebalance or FromAssignment and safe for
// concurrent use; slices it returns are the caller's. A membership change
// builds a new Ring, and Diff tells which partition consumers to stop and
// start.
//
// # Imports
//
// ring is a leaf library: standard library only. It must not import NATS,
// Redis, Badger, edge or aggregator, reads no flags and keeps no globals
// beyond constants and sentinel errors.
package ring
