package ring

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
)

// The hash functions below define where members and partitions sit on the
// ring. They are part of the protocol between aggregators: every member
// must compute the same points, so changing a constant here changes every
// assignment and needs a coordinated upgrade. TestGoldenAssignment pins them.

const (
	fnv64Offset = 14695981039346656037
	fnv64Prime  = 1099511628211
	golden64    = 0x9e3779b97f4a7c15
)

// fnv1a64 hashes a member ID.
func fnv1a64(s string) uint64 {
	h := uint64(fnv64Offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnv64Prime
	}
	return h
}

// splitmix64 is the SplitMix64 output function (Steele, Lea, Flood 2014):
// a bijective mixer with full avalanche, used to spread the virtual nodes of
// one member over the ring.
func splitmix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// pointHash is the ring position of virtual node i (0-based) of a member
// whose ID hashes to base.
func pointHash(base uint64, i int) uint64 {
	return splitmix64(base + uint64(i+1)*golden64)
}

// partitionPos is the ring position of partition p of n: the partitions are
// spaced evenly, p*2^64/n rounded down.
func partitionPos(p, n int) uint64 {
	q, _ := bits.Div64(uint64(p), 0, uint64(n))
	return q
}

// point is one virtual node.
type point struct {
	hash   uint64
	member int32
}

// buildPoints returns the virtual nodes of all members sorted by position;
// equal positions (a 64-bit collision) are ordered by member index, and the
// members are sorted by ID, so the order is total.
func buildPoints(opts Options, members []Member) []point {
	n := 0
	for _, m := range members {
		n += virtualNodes(opts, m)
	}
	pts := make([]point, 0, n)
	for i, m := range members {
		base := fnv1a64(m.ID)
		for v := range virtualNodes(opts, m) {
			pts = append(pts, point{hash: pointHash(base, v), member: int32(i)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		return cmp.Compare(a.member, b.member)
	})
	return pts
}

// proposal is a partition offered to a member at a clockwise ring distance.
type proposal struct {
	dist uint64
	part int32
}

// worse reports whether a is a worse claim on a member than b: farther
// away, or as far and a higher partition number.
func (a proposal) worse(b proposal) bool {
	if a.dist != b.dist {
		return a.dist > b.dist
	}
	return a.part > b.part
}

// heldSet is a max-heap of proposals by worse(): the root is the claim the
// member gives up first.
type heldSet []proposal

func (h heldSet) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h[i].worse(h[parent]) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (h heldSet) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[r].worse(h[l]) {
			c = r
		}
		if !h[c].worse(h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// assign maps each of n partitions to a member index with bounded loads:
// member i holds at most caps[i] partitions. It is the partition-proposing
// deferred-acceptance algorithm (Gale and Shapley) on the ring:
//
//   - a partition proposes to the members in the order their virtual nodes
//     follow its position clockwise (plain consistent hashing's order);
//   - a member keeps the caps[i] closest proposals (clockwise distance from
//     the partition to the virtual node it arrived at; ties by partition
//     number) and rejects the rest, which walk on.
//
// Preferences on both sides are strict, so the result is the unique
// partition-optimal stable matching: it does not depend on the order in
// which proposals are processed, and it equals consistent hashing whenever
// no member is over capacity. A partition rejected by (or bumped from) a
// member is never accepted by it again, because the member's held set only
// improves and later virtual nodes of the member are farther away; since
// sum(caps) >= n, no partition walks a whole lap.
//
// When only is non-nil, only those partitions propose (the others stay -1)
// and sum(caps) must be at least len(only): [Rebalance] places its pool of
// orphaned and surplus partitions this way.
func assign(pts []point, caps []int, n int, only []int32) ([]int32, error) {
	owner := make([]int32, n)
	for p := range owner {
		owner[p] = -1
	}
	if len(pts) == 0 {
		return owner, nil
	}
	if only == nil {
		only = make([]int32, n)
		for p := range only {
			only[p] = int32(p)
		}
	}
	pos := make([]uint64, n)
	cursor := make([]int, n)
	walked := make([]int, n)
	queue := make([]int32, 0, len(only))
	for _, p := range only {
		pos[p] = partitionPos(int(p), n)
		cursor[p] = firstPointAtOrAfter(pts, pos[p])
		queue = append(queue, p)
	}
	held := make([]heldSet, len(caps))
	for len(queue) > 0 {
		p := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for {
			if walked[p] == len(pts) {
				return nil, fmt.Errorf("ring: internal error: partition %d rejected by every member (capacities %v)", p, caps)
			}
			pt := pts[cursor[p]]
			cursor[p]++
			if cursor[p] == len(pts) {
				cursor[p] = 0
			}
			walked[p]++
			m := pt.member
			offer := proposal{dist: pt.hash - pos[p], part: p}
			h := held[m]
			if caps[m] == 0 {
				continue
			}
			if len(h) < caps[m] {
				h = append(h, offer)
				h.up(len(h) - 1)
				held[m] = h
				owner[p] = m
				break
			}
			if !h[0].worse(offer) {
				continue // rejected: walk on
			}
			bumped := h[0].part
			h[0] = offer
			h.down(0)
			owner[p] = m
			owner[bumped] = -1
			queue = append(queue, bumped)
			break
		}
	}
	return owner, nil
}

// firstPointAtOrAfter returns the index of the first point at or clockwise
// after position h (wrapping to 0).
func firstPointAtOrAfter(pts []point, h uint64) int {
	i, _ := slices.BinarySearchFunc(pts, h, func(pt point, h uint64) int { return cmp.Compare(pt.hash, h) })
	return i % len(pts)
}
