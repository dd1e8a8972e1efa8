package ring

import (
	"cmp"
	"container/heap"
	"fmt"
	"math/big"
	"slices"
)

// Rebalance returns the assignment of the partitions to members that moves
// the fewest partitions away from prev while keeping every member within
// its quota. prev holds the previous owner of every partition, indexed by
// partition ("" for unowned), as [Ring.Assignment] returns it; owners that
// are not in members are gone and their partitions are orphaned. A nil prev
// (or one that owns nothing) means there is no history: the result is then
// the rebalance of [New]'s assignment, which differs from it only where a
// member holds fewer than its floor quota.
//
// Quotas: with fair share s = P*w/W, member m ends with at least floor(s)
// and at most its [Ring.Capacity] max(ceil(s), floor(LoadFactor*s))
// partitions (with the default LoadFactor 1 and equal weights: floor(P/N)
// or ceil(P/N)). Within that:
//
//   - a partition stays with its owner when the owner is still a member
//     and within its quota;
//   - a member over its quota gives up the partitions farthest from its
//     ring points (clockwise distance, ties by the higher partition);
//   - which members end above their floor is chosen to move the fewest
//     partitions (those already holding more keep more); remaining ties go
//     to the member with the smallest target relative to its share, then
//     by the hash of the ID;
//   - the orphaned and given-up partitions are placed on the members below
//     their target by the same deferred acceptance as [New], restricted to
//     them: each goes to the closest member that has room.
//
// The number of moved partitions is then the least any assignment within
// the quotas can move. In particular, starting from a Rebalance result, when
// one member leaves exactly its partitions move, and when one joins exactly
// the newcomer's quota (floor(s) unless the others cannot keep enough).
//
// The result depends only on opts, prev and the set of members with their
// weights (not on slice order), and is the same on every architecture.
// A non-nil prev whose length is not the partition count is an error
// wrapping [ErrPartitionsDiffer].
func Rebalance(opts Options, prev []string, members []Member) (*Ring, error) {
	r, err := prepare(opts, members)
	if err != nil {
		return nil, err
	}
	P := r.opts.Partitions
	if prev != nil && len(prev) != P {
		return nil, fmt.Errorf("%w: previous assignment has %d partitions, options %d", ErrPartitionsDiffer, len(prev), P)
	}
	n := len(r.members)
	if n == 0 {
		owner := make([]int32, P)
		for p := range owner {
			owner[p] = -1
		}
		r.setOwner(owner)
		return r, nil
	}
	pts := buildPoints(r.opts, r.members)

	// The partitions each member keeps from prev; the rest are orphans.
	owner := make([]int32, P)
	kept := make([][]int32, n)
	history := false
	for p := range owner {
		owner[p] = -1
		if prev == nil {
			continue
		}
		if i, ok := r.index[prev[p]]; ok {
			owner[p] = int32(i)
			kept[i] = append(kept[i], int32(p))
			history = true
		}
	}
	if !history {
		// No history: start from the consistent-hashing assignment.
		base, err := assign(pts, r.caps, P, nil)
		if err != nil {
			return nil, err
		}
		for p, i := range base {
			owner[p] = i
			kept[i] = append(kept[i], int32(p))
		}
	}

	shares, floors := fairShares(r.opts, r.members)
	target := targets(r.members, shares, floors, r.caps, kept, P)

	// Members over their target give up their farthest partitions; they
	// and the orphans form the pool that the members below target share.
	perMember := memberPoints(pts, n)
	room := make([]int, n)
	for i, ps := range kept {
		if extra := len(ps) - target[i]; extra > 0 {
			slices.SortFunc(ps, func(a, b int32) int {
				da, db := distance(perMember[i], partitionPos(int(a), P)), distance(perMember[i], partitionPos(int(b), P))
				if c := cmp.Compare(da, db); c != 0 {
					return c
				}
				return cmp.Compare(a, b)
			})
			for _, p := range ps[len(ps)-extra:] {
				owner[p] = -1
			}
			kept[i] = ps[:len(ps)-extra]
		}
		room[i] = target[i] - len(kept[i])
	}
	var pool []int32
	for p, i := range owner {
		if i < 0 {
			pool = append(pool, int32(p))
		}
	}
	if len(pool) > 0 {
		placed, err := assign(pts, room, P, pool)
		if err != nil {
			return nil, err
		}
		for _, p := range pool {
			owner[p] = placed[p]
		}
	}
	r.setOwner(owner)
	return r, nil
}

// FromAssignment returns the ring whose owners are given, indexed by
// partition ("" for unowned), for example an assignment stored by a
// coordinator and read back: it checks that there is one owner per
// partition and that every owner is a member, and computes nothing. Its
// capacities are those of [New].
func FromAssignment(opts Options, members []Member, owners []string) (*Ring, error) {
	r, err := prepare(opts, members)
	if err != nil {
		return nil, err
	}
	if len(owners) != r.opts.Partitions {
		return nil, fmt.Errorf("%w: assignment has %d partitions, options %d", ErrPartitionsDiffer, len(owners), r.opts.Partitions)
	}
	owner := make([]int32, len(owners))
	for p, id := range owners {
		owner[p] = -1
		if id == "" {
			continue
		}
		i, ok := r.index[id]
		if !ok {
			return nil, fmt.Errorf("%w: partition %d owned by %q, which is not a member", ErrInvalidMember, p, id)
		}
		owner[p] = int32(i)
	}
	r.setOwner(owner)
	return r, nil
}

// targets returns how many partitions each member ends with: its kept
// count clamped to [floor(s), cap], then lowered or raised one at a time
// until the targets sum to P. Every lowering costs one move whichever
// member it hits, and raising costs none, so the sum of the kept counts
// above the targets (the moves besides the orphans) is the least possible;
// the order only decides ties: lower the member farthest above its share
// first, raise the one farthest below it first, then by ID hash.
func targets(members []Member, shares []*big.Rat, floors, caps []int, kept [][]int32, P int) []int {
	n := len(members)
	t := make([]int, n)
	sum := 0
	for i := range t {
		t[i] = min(max(len(kept[i]), floors[i]), caps[i])
		sum += t[i]
	}
	if sum == P {
		return t
	}
	lower := sum > P
	h := &quotaHeap{t: t, shares: shares, lower: lower, ids: make([]uint64, n), members: members}
	for i := range t {
		h.ids[i] = fnv1a64(members[i].ID)
		if lower && t[i] > floors[i] || !lower && t[i] < caps[i] {
			h.idx = append(h.idx, i)
		}
	}
	heap.Init(h)
	for sum != P && h.Len() > 0 {
		i := h.idx[0]
		if lower {
			t[i]--
			sum--
		} else {
			t[i]++
			sum++
		}
		if lower && t[i] == floors[i] || !lower && t[i] == caps[i] {
			heap.Pop(h)
		} else {
			heap.Fix(h, 0)
		}
	}
	return t
}

// quotaHeap orders members by t[i] - share[i]: largest first when
// lowering, smallest first when raising; ties by ID hash, then ID.
type quotaHeap struct {
	idx     []int
	t       []int
	shares  []*big.Rat
	ids     []uint64
	members []Member
	lower   bool
}

func (h *quotaHeap) Len() int      { return len(h.idx) }
func (h *quotaHeap) Swap(a, b int) { h.idx[a], h.idx[b] = h.idx[b], h.idx[a] }
func (h *quotaHeap) Push(x any)    { h.idx = append(h.idx, x.(int)) }
func (h *quotaHeap) Pop() any {
	x := h.idx[len(h.idx)-1]
	h.idx = h.idx[:len(h.idx)-1]
	return x
}

func (h *quotaHeap) Less(a, b int) bool {
	i, j := h.idx[a], h.idx[b]
	// Compare t[i] - s[i] with t[j] - s[j] as (t[i] - t[j]) vs (s[i] - s[j]).
	var d big.Rat
	d.Sub(h.shares[i], h.shares[j])
	c := new(big.Rat).SetInt64(int64(h.t[i] - h.t[j])).Cmp(&d)
	if c != 0 {
		return c > 0 == h.lower
	}
	if h.ids[i] != h.ids[j] {
		return h.ids[i] < h.ids[j]
	}
	return h.members[i].ID < h.members[j].ID
}

// memberPoints splits the sorted points by member, keeping the order.
func memberPoints(pts []point, n int) [][]uint64 {
	out := make([][]uint64, n)
	for _, pt := range pts {
		out[pt.member] = append(out[pt.member], pt.hash)
	}
	return out
}

// distance is the clockwise distance from position h to the first of the
// member's sorted points at or after it.
func distance(points []uint64, h uint64) uint64 {
	i, _ := slices.BinarySearch(points, h)
	return points[i%len(points)] - h
}
