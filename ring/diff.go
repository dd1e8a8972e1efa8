package ring

import (
	"errors"
	"fmt"
)

// ErrPartitionsDiffer is returned by [Diff] for rings with different
// partition counts: partition numbers then name different subjects, and no
// list of moves describes the change.
var ErrPartitionsDiffer = errors.New("ring: partition counts differ")

// Move is a partition whose owner differs between two rings. From or To is
// "" when the partition is unowned on that side (a ring without members).
type Move struct {
	Partition int
	From, To  string
}

// Diff lists the partitions whose owner differs from a to b, in ascending
// partition order. A nil ring stands for a ring without members and with
// the other ring's partition count, so Diff(nil, r) lists every partition
// of r. Diff(nil, nil) is empty.
func Diff(a, b *Ring) ([]Move, error) {
	switch {
	case a == nil && b == nil:
		return nil, nil
	case a == nil:
		a = emptyLike(b)
	case b == nil:
		b = emptyLike(a)
	}
	if len(a.owner) != len(b.owner) {
		return nil, fmt.Errorf("%w: %d and %d", ErrPartitionsDiffer, len(a.owner), len(b.owner))
	}
	var moves []Move
	for p := range a.owner {
		if from, to := a.Owner(p), b.Owner(p); from != to {
			moves = append(moves, Move{Partition: p, From: from, To: to})
		}
	}
	return moves, nil
}

// emptyLike returns a ring without members and with r's partition count.
func emptyLike(r *Ring) *Ring {
	e := &Ring{opts: r.opts, owner: make([]int32, len(r.owner))}
	for p := range e.owner {
		e.owner[p] = -1
	}
	return e
}
