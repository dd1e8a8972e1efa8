package ring

import (
	"fmt"
	"slices"
	"strings"
)

// Ring is the partition assignment derived from one membership. It is
// immutable after [New] and safe for concurrent use; a membership change
// builds a new Ring.
type Ring struct {
	opts    Options
	members []Member // sorted by ID, weights as given (0 means 1)
	index   map[string]int
	caps    []int
	owner   []int32 // partition -> member index, -1 when there are no members
	parts   [][]int // member index -> its partitions, ascending
}

// New validates the options and the members and computes the assignment.
// The result depends only on the options and on the set of members with
// their weights, not on the order of the slice. An empty member list is
// allowed: every partition is then unowned.
func New(opts Options, members []Member) (*Ring, error) {
	r, err := prepare(opts, members)
	if err != nil {
		return nil, err
	}
	owner, err := assign(buildPoints(r.opts, r.members), r.caps, r.opts.Partitions, nil)
	if err != nil {
		return nil, err
	}
	r.setOwner(owner)
	return r, nil
}

// prepare validates the options and the members and returns a ring without
// an assignment: members sorted by ID, the index and the capacities.
func prepare(opts Options, members []Member) (*Ring, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	index := make(map[string]int, len(ms))
	points := 0
	for i, m := range ms {
		if err := m.validate(); err != nil {
			return nil, err
		}
		if i > 0 && ms[i-1].ID == m.ID {
			return nil, fmt.Errorf("%w: duplicate ID %q", ErrInvalidMember, m.ID)
		}
		index[m.ID] = i
		points += virtualNodes(opts, m)
	}
	if points > MaxPoints {
		return nil, fmt.Errorf("%w: %d ring points (VirtualNodes %d times the weights), want at most %d",
			ErrInvalidMember, points, opts.VirtualNodes, MaxPoints)
	}
	r := &Ring{opts: opts, members: ms, index: index}
	if len(ms) > 0 {
		r.caps = capacities(opts, ms)
	}
	return r, nil
}

// setOwner installs the assignment (partition -> member index, -1 for
// unowned) and derives the per-member partition lists.
func (r *Ring) setOwner(owner []int32) {
	r.owner = owner
	r.parts = make([][]int, len(r.members))
	for p, m := range owner {
		if m >= 0 {
			r.parts[m] = append(r.parts[m], p)
		}
	}
}

// Options returns the options the ring was built with, defaults filled in.
func (r *Ring) Options() Options { return r.opts }

// NumPartitions returns P.
func (r *Ring) NumPartitions() int { return r.opts.Partitions }

// Members returns the members sorted by ID.
func (r *Ring) Members() []Member { return slices.Clone(r.members) }

// Owner returns the ID of the member that owns the partition, or "" when
// the partition is out of range or the ring has no members.
func (r *Ring) Owner(partition int) string {
	if partition < 0 || partition >= len(r.owner) {
		return ""
	}
	m := r.owner[partition]
	if m < 0 {
		return ""
	}
	return r.members[m].ID
}

// Partitions returns the partitions the member owns in ascending order, or
// nil when the member is not in the ring or owns none. The slice is the
// caller's.
func (r *Ring) Partitions(memberID string) []int {
	i, ok := r.index[memberID]
	if !ok {
		return nil
	}
	return slices.Clone(r.parts[i])
}

// Capacity returns the most partitions the member may hold,
// ceil(LoadFactor*P*w/W), or 0 when the member is not in the ring.
func (r *Ring) Capacity(memberID string) int {
	i, ok := r.index[memberID]
	if !ok {
		return 0
	}
	return r.caps[i]
}

// Assignment returns the owner of every partition, indexed by partition
// ("" for unowned). The slice is the caller's.
func (r *Ring) Assignment() []string {
	out := make([]string, len(r.owner))
	for p := range out {
		out[p] = r.Owner(p)
	}
	return out
}
